"""The raw baseline: a bare Litestar app with one route, nothing else."""

from litestar import Litestar, get


@get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


app = Litestar([hello])
