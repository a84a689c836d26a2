"""The local signing agent: a hardware token (CA锁/USB key) used from the platform's pages.

A page cannot speak PKCS#11, so this small HTTP server on 127.0.0.1 does, for the page
origins it was started for. The protocol is in docs/agent.md; the person pairs each page
with it, types the token's PIN here and never in a page, and confirms every use of a key
at this terminal.
"""
