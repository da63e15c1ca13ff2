"""Evaluation: how good the answers are (``rag eval``) and how fast (``rag bench``).

- :mod:`.questions`: the question file format, loading and validation;
- :mod:`.metrics`: pure metric functions (recall@k, MRR, nDCG, answer correctness);
- :mod:`.results`: ranked chunks, a run's result, TREC run files;
- :mod:`.baseline`: the naive retriever every gain is quoted from;
- :mod:`.run`: ``run_eval`` and ``rag eval``; :mod:`.summary` folds its figures;
- :mod:`.report`: report.md, chart.png, summary.json and the printed table;
- :mod:`.guard`: the expected figures (eval/expected.json) and regressions;
- :mod:`.common`: percentiles, markdown tables and progress bars, shared with the bench;
- :mod:`.bench`: ``rag bench``.
"""
