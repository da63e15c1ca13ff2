"""The optional LLM answerer: prompt, client, citation checking, fallback."""
