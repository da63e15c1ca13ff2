"""``rag bench``: speed and memory of every stage, measured in one run and written as a report.

- :mod:`.run`: the run itself (model load, build, warm latency, naive baseline, cold start,
  serving RSS, scale) and ``rag bench``;
- :mod:`.synthetic`: the scale test's corpus, grown from the real chunks;
- :mod:`.scale` and :mod:`.worker`: the steps that run in their own process, so every RSS
  figure belongs to one workload (``python -m rag.evaluation.bench.worker scale|serve CONFIG``);
- :mod:`.compare` and :mod:`.backends`: both index back-ends side by side (``--backends``),
  each in its own process, Milvus on a private Milvus Lite server;
- :mod:`.measure`: timers, memory, latency figures, ANN recall and the targets;
- :mod:`.report`: bench.md, bench.json, bench.png and the terminal summary.
"""
