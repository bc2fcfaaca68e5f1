"""Alpaca: options (OPRA / indicative) and stocks (IEX / SIP), websocket streams and REST history."""
