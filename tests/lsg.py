"""A loopback Databento live gateway speaking the live protocol, so that ``databento.Live``
runs unmodified: the greeting and CRAM challenge, the client's authentication (checked
with databento's own ``cram.get_challenge_response``), subscriptions until
``start_session``, then a DBN stream: metadata, a symbol-mapping record per instrument,
and the subscribed schemas' records (from ``start`` when the client asks for intraday
replay). The control lines are parsed and written with databento's own gateway message
classes, as the vendor's test server does.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

import databento_dbn as dbn
from databento.common import cram
from databento.live.gateway import (
    AuthenticationRequest,
    AuthenticationResponse,
    ChallengeRequest,
    Greeting,
    SessionStart,
    SubscriptionRequest,
    parse_gateway_message,
)


@dataclass
class LiveGateway:
    """The gateway: a key, each dataset's records per schema and its instruments.

    Attributes
    ----------
    key
        The one API key accepted.
    records
        (dataset, schema) -> records in time order.
    instruments
        Dataset -> raw symbol -> instrument id.
    drop_after
        Close the first session after this many records (a cut connection).
    pace_s
        Seconds between records (0: in bursts of 50).
    slow_after
        Send a slow-reader warning after this many records.
    sessions
        What each session asked for: dataset and its subscription requests.
    """

    key: str
    records: dict[tuple[str, str], list[object]]
    instruments: dict[str, dict[str, int]]
    drop_after: int | None = None
    pace_s: float = 0.0
    slow_after: int | None = None
    auths: list[AuthenticationRequest] = field(default_factory=list)
    sessions: list[tuple[str, list[SubscriptionRequest]]] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> int:
        """Listen on a free loopback port; return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and close every session."""
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _stream(self, dataset: str, subs: list[SubscriptionRequest]) -> list[object]:
        chosen: list[object] = []
        for sub in subs:  # each from its own start (intraday replay), else all
            chosen += [
                r for r in self.records.get((dataset, str(sub.schema)), [])
                if sub.start is None or int(r.ts_event) >= int(sub.start)  # type: ignore[attr-defined]
            ]  # fmt: skip
        chosen.sort(key=lambda r: int(r.ts_event))  # type: ignore[attr-defined]
        first = int(chosen[0].ts_event) if chosen else 0  # type: ignore[attr-defined]
        wanted = {sym for s in subs for sym in str(s.symbols).split(",")}
        known = self.instruments.get(dataset, {})
        out: list[object] = [
            dbn.ErrorMsg(first, f"Failed to resolve symbol: {sym}")
            for sym in sorted(wanted)
            if not any(raw == sym or raw.startswith(sym.removesuffix(".OPT")) for raw in known)
        ]
        out += [
            dbn.SymbolMappingMsg(
                publisher_id=0, instrument_id=iid, ts_event=first,
                stype_in=dbn.SType.RAW_SYMBOL, stype_in_symbol=raw,
                stype_out=dbn.SType.RAW_SYMBOL, stype_out_symbol=raw,
                start_ts=first, end_ts=first + 86_400 * 10**9,
            )
            for raw, iid in known.items()
        ]  # fmt: skip
        return out + chosen

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        challenge = secrets.token_hex(16)
        try:
            writer.write(bytes(Greeting(lsg_version="0.9.0")))
            writer.write(bytes(ChallengeRequest(cram=challenge)))
            auth = parse_gateway_message((await reader.readline()).decode())
            assert isinstance(auth, AuthenticationRequest)
            self.auths.append(auth)
            if auth.auth != cram.get_challenge_response(challenge, self.key):
                writer.write(
                    bytes(AuthenticationResponse(success="0", error="Authentication failed."))
                )
                await writer.drain()
                return
            session = len(self.sessions)
            writer.write(bytes(AuthenticationResponse(success="1", session_id=str(session))))
            subs: list[SubscriptionRequest] = []
            while True:
                message = parse_gateway_message((await reader.readline()).decode())
                if isinstance(message, SessionStart):
                    break
                assert isinstance(message, SubscriptionRequest)
                subs.append(message)
            dataset = str(auth.dataset)
            self.sessions.append((dataset, subs))
            records = self._stream(dataset, subs)
            meta = dbn.Metadata(
                dataset=dataset, start=int(records[0].ts_event) if records else 0,  # type: ignore[attr-defined]
                stype_in=dbn.SType(str(subs[0].stype_in)), stype_out=dbn.SType.INSTRUMENT_ID,
                schema=None, symbols=[], partial=[], not_found=[], mappings=[],
            )  # fmt: skip
            writer.write(meta.encode())
            for count, record in enumerate(records, 1):
                writer.write(bytes(record))  # type: ignore[call-overload]
                if count == self.slow_after:
                    slow = "Warning: slow reading detected; data may be delayed"
                    writer.write(
                        bytes(
                            dbn.SystemMsg(
                                int(record.ts_event), slow, dbn.SystemCode.SLOW_READER_WARNING
                            )
                        )
                    )  # type: ignore[attr-defined]
                if self.drop_after is not None and count >= self.drop_after:
                    self.drop_after = None
                    await writer.drain()
                    return  # the connection is cut
                if self.pace_s or count % 50 == 0:
                    await writer.drain()
                    await asyncio.sleep(self.pace_s or 0.01)  # a stream, not one burst
            await writer.drain()
            await reader.read()  # a live session stays open until the client leaves
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
