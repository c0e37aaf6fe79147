"""Framework adapters built on :mod:`vecs_core`'s public API.

Each framework lives in its own subpackage and imports that framework only there:
``vecs_integrations.langchain`` and ``vecs_integrations.llama_index``.
"""
