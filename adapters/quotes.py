"""What each source's quotes are: an NBBO or one venue's book, every change or samples.

Rule 1 (docs in README "Using real data") turns on two facts about a quote stream:

- **consolidated**: only a consolidated book is an NBBO. A venue's own top of book (OPRA
  ``mbp-1``, ``tbbo``, ``bbo-1s``) is not; flowlake consolidates venue books into an NBBO
  only where every venue's every change is there (``mbp-1`` of all venues), and keeps
  the others as venue quotes that never place a trade.
- **complete**: a stream with every change of the book places a print against the last
  NBBO however old it is (an illiquid contract's NBBO stands for minutes), and a crossed
  or empty NBBO in force places nothing. A sampled stream (IBKR's 100 ms snapshots,
  Alpaca's indicative feed, Databento's interval samples) is trusted for ``max_age_ms``
  only.

A quote row's ``source`` names its stream; a source not listed here is sampled, and its
rows are an NBBO exactly when their ``exchange`` is ``NBBO`` (the canonical schema's rule).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The ``exchange`` of a consolidated quote.
NBBO = "NBBO"
#: The ``source`` of the NBBO flowlake consolidates from venue books.
CONSOLIDATED_SOURCE = "flowlake.nbbo"


@dataclass(frozen=True)
class QuoteStream:
    """What one source's quotes are.

    Attributes
    ----------
    complete
        Every change of the book is in the stream (no age limit applies).
    venue_book
        Rows are venues' books that flowlake may consolidate into an NBBO (each venue's
        complete book); False for consolidated streams and for venue snapshots.
    """

    complete: bool
    venue_book: bool = False


#: Quote ``source`` -> what its rows are (Databento's per schema).
QUOTE_STREAMS: dict[str, QuoteStream] = {
    "databento.cmbp-1": QuoteStream(complete=True),
    "databento.tcbbo": QuoteStream(complete=True),
    "databento.cbbo-1s": QuoteStream(complete=False),
    "databento.cbbo-1m": QuoteStream(complete=False),
    "databento.mbp-1": QuoteStream(complete=True, venue_book=True),
    CONSOLIDATED_SOURCE: QuoteStream(complete=True),
}

#: Sources whose rows hold every change (rule 1 without an age limit).
COMPLETE_SOURCES: tuple[str, ...] = tuple(s for s, q in QUOTE_STREAMS.items() if q.complete)
#: Sources whose venue rows flowlake consolidates into an NBBO.
VENUE_BOOK_SOURCES: tuple[str, ...] = tuple(s for s, q in QUOTE_STREAMS.items() if q.venue_book)
