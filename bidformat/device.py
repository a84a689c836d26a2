"""The bidder's device fingerprint, for collusion indicators C1 and C2.

The bidder tool calls ``collect()`` on the bidder's machine and sends the
result with every submission; it also writes ``machine_code()`` into the bid
ZIP. On the server, ``marks()`` turns that client-supplied JSON, the client's
IP address and the ZIP's creator block into ``(kind, value)`` pairs that are
stored in ``bid_marks`` and compared across the bidders of a lot once the
bids are opened (C1: same IP or device; C2: same creator, machine code or
tool serial).

None of this is a secret or a proof: a bidder can edit what the tool sends.
It is an indicator raised to supervisors and the committee, and it is worth
having because colluding bidders very often prepare every bid on one
machine. What the server stores is therefore normalized and bounded so that
hostile input cannot do more than leave marks out.

``collect()`` reads only what an ordinary user can read without extra
packages, Linux first. Identifiers that are not tied to one machine are left
out on purpose, because a value shared by thousands of unrelated machines
(a docker bridge MAC, a firmware placeholder serial) would flag honest
bidders as colluding.
"""

from __future__ import annotations

import hashlib
import ipaddress
import platform
import re
import socket
import sys
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import msgspec
import psutil

FORMAT = 1
TOOL_NAME = "tenderhall"

MAX_MARKS = 50
MAX_VALUE = 200
# Per-kind caps, so that a list of a thousand MACs cannot crowd out the disks.
MAX_MACS = 16
MAX_DISKS = 16
# How far into a client-supplied list or string the server looks at all.
_SCAN_ITEMS = 64
_SCAN_CHARS = 1000
_READ_LIMIT = 1 << 20

CPU_SERIAL = "serial:"
CPU_MODEL = "model:"

# Values that firmware and virtual hardware print instead of a real serial.
# Thousands of machines share them, so they identify nothing.
_PLACEHOLDERS = frozenset({
    "none", "null", "n/a", "na", "unknown", "default string", "not specified", "not applicable",
    "to be filled by o.e.m.", "system serial number", "uninitialized", "123456789", "0123456789",
    "1234567890", "03000200-0400-0500-0006-000700080009",
})

_MAC_GROUPS = re.compile(r"^([0-9a-f]{1,2})(?:[:-]([0-9a-f]{1,2})){5}$")
_MAC_PLAIN = re.compile(r"^[0-9a-f]{12}$")
_MAC_DOTTED = re.compile(r"^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$")
_CPU_SERIAL = re.compile(r"^[0-9a-z]{8,64}$")
_PARTITION = re.compile(r"-part\d+$")
_USB_LUN = re.compile(r"-\d+:\d+$")

# /sys/block entries that are not disks of this machine.
_VIRTUAL_BLOCK = ("loop", "ram", "zram", "nbd", "dm-", "md", "sr", "fd")
# /dev/disk/by-id prefixes that name a volume, not a drive, or a drive that
# travels between machines (USB sticks).
_BY_ID_SKIP = ("dm-", "lvm-", "md-", "usb-", "mmc-", "memstick-", "loop")


class ToolIn(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    version: Annotated[str, msgspec.Meta(max_length=100)] = ""


class DeviceIn(msgspec.Struct):
    """What the server accepts as a device: the shape of ``collect()``.

    Everything is optional because older or third-party tools send less, and
    unknown fields are ignored so that newer tools can send more without
    being refused. Lengths are bounded because the whole value is stored.
    ``cpu`` is ``"serial:<serial>"`` when the processor exposes a serial and
    ``"model:<description>"`` otherwise; only the first becomes a mark.
    """

    format: Annotated[int, msgspec.Meta(ge=1, le=1000)] = FORMAT
    host_id: Annotated[str, msgspec.Meta(max_length=MAX_VALUE)] | None = None
    macs: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]],
                    msgspec.Meta(max_length=32)] = msgspec.field(default_factory=list)
    cpu: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    disks: Annotated[list[Annotated[str, msgspec.Meta(max_length=MAX_VALUE)]],
                     msgspec.Meta(max_length=32)] = msgspec.field(default_factory=list)
    hostname: Annotated[str, msgspec.Meta(max_length=255)] = ""
    os: Annotated[str, msgspec.Meta(max_length=300)] = ""
    tool: ToolIn | None = None


class CreatorIn(msgspec.Struct):
    """The creator block of a bid ZIP: which tool made the file, on which machine."""

    tool: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    version: Annotated[str, msgspec.Meta(max_length=100)]
    machine_code: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    serial: Annotated[str, msgspec.Meta(max_length=MAX_VALUE)] | None = None


# ---------------------------------------------------------------- normalizing


def _text(value: object) -> str | None:
    """A client-supplied string, stripped and lower-cased, or None if it does not fit."""
    if not isinstance(value, str):
        return None
    text = value[:_SCAN_CHARS].strip().lower()
    if not text or len(text) > MAX_VALUE or not text.isprintable():
        return None
    return text


def _identifier(value: object) -> str | None:
    """Like ``_text``, and also None for placeholders that many machines share."""
    text = _text(value)
    if text is None or text in _PLACEHOLDERS:
        return None
    if len(set(text) - {"-", ":", " ", "."}) <= 1:  # 0000..., ffff-ffff...
        return None
    return text


def normalize_mac(value: object) -> str | None:
    """The lower-case colon form of a hardware MAC address, or None.

    IEEE 802 reserves two bits of the first octet: bit 0 marks a group
    (multicast, broadcast) address and bit 1 a locally administered one,
    set by software instead of burned in by the maker under its IEEE OUI.
    Docker (02:42:...), veth pairs, bridges, VPN taps, Wi-Fi randomization
    and hypervisor defaults such as QEMU's 52:54:00 all use locally
    administered addresses, and docker gives the same one to the first
    container on every host. Only universally administered unicast
    addresses identify a network card, so everything else is dropped, as
    is the all-zero address of loopback and dummy interfaces.
    """
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip().lower()
    if _MAC_GROUPS.match(text):
        digits = "".join(part.zfill(2) for part in re.split(r"[:-]", text))
    elif _MAC_PLAIN.match(text) or _MAC_DOTTED.match(text):
        digits = text.replace(".", "")
    else:
        return None
    if int(digits[:2], 16) & 0b11 or digits == "0" * 12:
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def _cpu_serial(value: object) -> str | None:
    """The serial in a ``"serial:..."`` cpu string; a model description never counts."""
    text = _identifier(value)
    if text is None or not text.startswith(CPU_SERIAL):
        return None
    serial = text[len(CPU_SERIAL):].strip()
    if not _CPU_SERIAL.match(serial) or set(serial) <= {"0"}:
        return None
    return serial


def _items(value: object) -> Iterator[object]:
    """The first items of a client-supplied list; nothing for anything else."""
    if isinstance(value, list | tuple):
        yield from islice(value, _SCAN_ITEMS)


def _field(data: object, key: str) -> object:
    if isinstance(data, msgspec.Struct):
        return getattr(data, key, None)
    if isinstance(data, Mapping):
        return data.get(key)
    return None


def _ip(value: object) -> str | None:
    """The canonical text of an address, so that ::ffff:1.2.3.4 and 1.2.3.4 compare equal."""
    text = _text(value)
    if text is None:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text  # supplied by the server, not the client: keep what it says
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _strong(device: object) -> tuple[str | None, list[str], list[str]]:
    """The host id, MACs and disk serials of a device, normalized and bounded."""
    host = _identifier(_field(device, "host_id"))
    macs = sorted({m for m in map(normalize_mac, _items(_field(device, "macs"))) if m})[:MAX_MACS]
    disks = sorted({d for d in map(_identifier, _items(_field(device, "disks"))) if d})[:MAX_DISKS]
    return host, macs, disks


def _digest(parts: object) -> str:
    return hashlib.sha256(msgspec.json.encode(parts)).hexdigest()[:16]


def machine_code(device: Mapping[str, Any] | DeviceIn) -> str:
    """A short, stable comparison key for the machine: 16 hex characters.

    It is the start of a SHA-256 over the host id, the sorted MACs and the
    sorted disk serials, normalized as ``marks()`` normalizes them, so the
    same machine gives the same code whether it made the ZIP or submitted
    it. It is not a secret and proves nothing; it only lets two bid files
    be compared without carrying the raw identifiers in the ZIP. A machine
    with none of the three falls back to its host name, so that machines
    without identifiers do not all share one code.
    """
    host, macs, disks = _strong(device)
    if host is None and not macs and not disks:
        return _digest([FORMAT, "hostname", _text(_field(device, "hostname"))])
    return _digest([FORMAT, host, macs, disks])


def marks(
    device: Mapping[str, Any] | DeviceIn | None,
    *,
    client_ip: str | None,
    creator: Mapping[str, Any] | CreatorIn | None,
) -> list[tuple[str, str]]:
    """The identifiers stored in ``bid_marks`` and compared across bidders.

    ``device`` and ``creator`` come from the client, so this never raises:
    wrong types, oversized lists and strings, and nested junk are skipped.
    Values are stripped, lower-cased, at most 200 characters, deduplicated,
    and there are at most 50 marks, most telling first. The machine code is
    taken both from the ZIP and from the submitted device: the two agree
    when the file was made on the machine that submitted it, and either one
    matching another bidder's is the C2 indicator.
    """
    found: list[tuple[str, str | None]] = [("ip", _ip(client_ip))]
    host, macs, disks = _strong(device)
    found.append(("host_id", host))
    found.append(("machine_code", _text(_field(creator, "machine_code"))))
    if host is not None or macs or disks:
        found.append(("machine_code", _digest([FORMAT, host, macs, disks])))
    found.append(("cpu_serial", _cpu_serial(_field(device, "cpu"))))
    tool, version = _text(_field(creator, "tool")), _text(_field(creator, "version"))
    if tool is not None:
        found.append(("creator", _text(f"{tool} {version or ''}")))
    found.append(("tool_serial", _identifier(_field(creator, "serial"))))
    found.extend(("mac", m) for m in macs)
    found.extend(("disk", d) for d in disks)
    return _unique(found)


def _unique(found: Iterable[tuple[str, str | None]]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for kind, value in found:
        if value and len(value) <= MAX_VALUE:
            seen.setdefault((kind, value))
    return list(seen)[:MAX_MARKS]


# ---------------------------------------------------------------- collecting


def collect() -> dict[str, Any]:
    """What identifies this machine and this tool, as JSON-ready data.

    Runs on the bidder's machine as an ordinary user. Anything unreadable is
    left out rather than reported as an error: a missing identifier only
    weakens an indicator, while a failing bid tool stops a bid.
    """
    if sys.platform.startswith("linux"):
        return _collect(Path("/"))
    return _document(_other_host_id(), _other_macs(), _model(platform.processor()), [])


def _collect(root: Path) -> dict[str, Any]:
    """``collect()`` on Linux, reading the system directories under ``root``."""
    return _document(_linux_host_id(root), _linux_macs(root), _linux_cpu(root), _linux_disks(root))


def _document(host_id: str | None, macs: list[str], cpu: str | None, disks: list[str]) -> dict[str, Any]:
    # Bounded as DeviceIn bounds them, so that a server with many disks is not refused.
    return {
        "format": FORMAT,
        "host_id": host_id,
        "macs": sorted(set(macs))[:MAX_MACS],
        "cpu": cpu,
        "disks": sorted(set(disks))[:MAX_DISKS],
        "hostname": (socket.gethostname() or platform.node())[:255],
        "os": platform.platform()[:300],
        "tool": {"name": TOOL_NAME, "version": _version()},
    }


def _version() -> str:
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        return "dev"


def _read(path: Path) -> str | None:
    """A small system file's stripped text, or None if it is missing or unreadable."""
    try:
        with path.open("rb") as f:
            text = f.read(_READ_LIMIT).decode("utf-8", "replace").strip()
    except OSError:
        return None
    return text or None


def _linux_host_id(root: Path) -> str | None:
    # machine-id is readable by everyone; the DMI UUID usually only by root.
    for name in ("etc/machine-id", "var/lib/dbus/machine-id", "sys/class/dmi/id/product_uuid"):
        value = _identifier(_read(root / name))
        if value is not None:
            return value
    return None


def _other_host_id() -> str | None:
    """Windows keeps a per-installation GUID that any user may read."""
    if sys.platform == "win32":
        import winreg  # noqa: PLC0415 - exists on Windows only

        try:
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography") as key:
                value, _ = winreg.QueryValueEx(key, "MachineGuid")
        except OSError:
            return None
        return _identifier(value)
    return None


def _other_macs() -> list[str]:
    """Every interface's hardware address, as psutil reads them on Windows and macOS (Linux
    reads /sys instead, which also tells an Ethernet or Wi-Fi interface from InfiniBand and
    tunnels). Loopback and all-zero addresses are dropped by ``normalize_mac``."""
    try:
        interfaces = psutil.net_if_addrs()
    except (OSError, RuntimeError):
        return []
    return [mac for addresses in interfaces.values() for a in addresses
            if a.family == psutil.AF_LINK and (mac := normalize_mac(a.address)) is not None]


def _linux_macs(root: Path) -> list[str]:
    found: list[str] = []
    net = root / "sys/class/net"
    try:
        interfaces = sorted(net.iterdir())
    except OSError:
        return found
    for interface in interfaces:
        # type 1 is ARPHRD_ETHER (Ethernet and Wi-Fi); loopback, tunnels and
        # InfiniBand have other types or addresses of another length.
        if interface.name == "lo" or _read(interface / "type") not in (None, "1"):
            continue
        address = normalize_mac(_read(interface / "address"))
        if address is not None:
            found.append(address)
    return found


def _model(description: str | None, extra: str = "") -> str | None:
    description = (description or "").strip()
    if not description and not extra:
        return None
    return f"{CPU_MODEL}{description}{extra}"[:300]


def _linux_cpu(root: Path) -> str | None:
    """The ARM serial if there is one; else model and family/model/stepping.

    x86 processors have not exposed a serial since the Pentium III, so on
    most machines only the model is available. Many machines share a model,
    so it is kept for people reading the device but never made a mark.
    """
    text = _read(root / "proc/cpuinfo") or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key not in fields:
            fields[key] = value.strip()
    serial = fields.get("serial", "").lower()
    if _cpu_serial(CPU_SERIAL + serial):
        return CPU_SERIAL + serial
    family = [f"{k} {fields[k]}" for k in ("cpu family", "model", "stepping") if fields.get(k)]
    return _model(fields.get("model name") or fields.get("hardware") or platform.processor(),
                  f" ({', '.join(family)})" if family else "")


def _linux_disks(root: Path) -> list[str]:
    found: list[str] = []
    block = root / "sys/block"
    try:
        devices = sorted(block.iterdir())
    except OSError:
        devices = []
    for disk in devices:
        # /sys/block lists whole disks only; partitions live below them.
        if disk.name.startswith(_VIRTUAL_BLOCK) or _read(disk / "removable") == "1":
            continue
        for name in ("device/serial", "serial"):
            serial = _identifier(_read(disk / name))
            if serial is not None:
                found.append(serial)
                break
    try:
        names = sorted(p.name for p in (root / "dev/disk/by-id").iterdir())
    except OSError:
        names = []
    found.extend(s for s in map(_by_id_serial, names) if s)
    return found


def _by_id_serial(name: str) -> str | None:
    """The serial part of a /dev/disk/by-id name.

    udev builds these as ``<bus>-<model>_<serial>`` (spaces as ``_``), or
    from a world-wide identifier (``wwn-0x...``, ``nvme-eui....``), which is
    unique by itself and kept whole.
    """
    if _PARTITION.search(name) or name.startswith(_BY_ID_SKIP):
        return None
    if name.startswith("wwn-"):
        return _identifier(name)
    bus, sep, rest = name.partition("-")
    if not sep or not rest:
        return None
    if bus == "nvme" and rest.startswith(("eui.", "nvme.")):
        return _identifier(rest)
    return _identifier(_USB_LUN.sub("", rest).rpartition("_")[2])
