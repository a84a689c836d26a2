"""The bidder's device fingerprint (C1, C2): what the tool collects and what the server keeps."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidformat import device

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
KINDS = {"ip", "host_id", "mac", "cpu_serial", "disk", "machine_code", "creator", "tool_serial"}


def check_marks(found: list[tuple[str, str]]) -> None:
    """What bid_marks accepts: known kinds, 1..200 characters, no duplicates, at most 50."""
    assert len(found) <= device.MAX_MARKS
    assert len(set(found)) == len(found)
    for kind, value in found:
        assert kind in KINDS
        assert isinstance(value, str)
        assert 1 <= len(value) <= 200
        assert value == value.strip().lower()


# ----------------------------------------------------------------- collect


def test_collect_on_this_machine() -> None:
    found = device.collect()
    assert set(found) == {"format", "host_id", "macs", "cpu", "disks", "hostname", "os", "tool"}
    assert found["format"] == 1
    assert isinstance(found["hostname"], str) and found["hostname"]
    assert isinstance(found["os"], str) and found["os"]
    assert found["host_id"] is None or isinstance(found["host_id"], str)
    assert found["cpu"] is None or found["cpu"].startswith(("serial:", "model:"))
    assert all(MAC.match(m) for m in found["macs"])
    assert all(int(m[:2], 16) & 0b11 == 0 for m in found["macs"])
    assert all(isinstance(d, str) and d for d in found["disks"])
    assert found["tool"]["name"] == "tenderhall"
    assert isinstance(found["tool"]["version"], str) and found["tool"]["version"]
    # JSON-ready, and what the server accepts
    assert json.loads(json.dumps(found)) == found
    wire = msgspec.json.decode(msgspec.json.encode(found), type=device.DeviceIn)
    assert wire.hostname == found["hostname"]
    check_marks(device.marks(found, client_ip="203.0.113.9", creator=None))


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_collect_reads_linux_identifiers(tmp_path: Path) -> None:
    write(tmp_path, {
        "etc/machine-id": "3D1219C7C4C5404AAA1F6D2A48ADFDA4\n",
        "sys/class/net/lo/address": "00:00:00:00:00:00\n",
        "sys/class/net/lo/type": "772\n",
        "sys/class/net/eth0/address": "00:1B:21:3A:4F:5C\n",
        "sys/class/net/eth0/type": "1\n",
        "sys/class/net/wlan0/address": "3c:22:fb:01:02:03\n",
        "sys/class/net/wlan0/type": "1\n",
        "sys/class/net/docker0/address": "02:42:ac:11:00:01\n",
        "sys/class/net/docker0/type": "1\n",
        "sys/class/net/veth1a2b/address": "7a:9c:4f:00:11:22\n",
        "sys/class/net/virbr0/address": "52:54:00:12:34:56\n",
        "sys/class/net/tun0/type": "65534\n",
        "sys/class/net/ib0/address": "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:0b:0c\n",
        "sys/class/net/ib0/type": "32\n",
        "proc/cpuinfo": "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
                        "model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz\nstepping\t: 4\n\n"
                        "processor\t: 1\nmodel name\t: other\n",
        "sys/block/nvme0n1/device/serial": "S4EWNX0N123456      \n",
        "sys/block/nvme0n1/removable": "0\n",
        "sys/block/vda/serial": "199663491880890010\n",
        "sys/block/loop0/serial": "loopserial\n",
        "sys/block/zram0/serial": "zramserial\n",
        "sys/block/sdb/device/serial": "USBSTICK01\n",
        "sys/block/sdb/removable": "1\n",
        "sys/block/sdc/device/serial": "0000000000000000\n",
    })
    by_id = tmp_path / "dev/disk/by-id"
    by_id.mkdir(parents=True)
    for name in ("ata-Samsung_SSD_860_EVO_500GB_S3Z1NB0K123456A",
                 "ata-Samsung_SSD_860_EVO_500GB_S3Z1NB0K123456A-part1",
                 "wwn-0x5002538e40a1b2c3", "wwn-0x5002538e40a1b2c3-part2",
                 "nvme-eui.0025385b71b0a1b2", "nvme-Samsung_SSD_970_EVO_1TB_S4EWNX0N123456",
                 "usb-Generic_Flash_Disk_12345678-0:0", "dm-name-vg-root", "lvm-pv-uuid-abc",
                 "md-uuid-1234"):
        (by_id / name).touch()

    found = device._collect(tmp_path)
    assert found["host_id"] == "3d1219c7c4c5404aaa1f6d2a48adfda4"
    assert found["macs"] == ["00:1b:21:3a:4f:5c", "3c:22:fb:01:02:03"]
    assert found["cpu"] == ("model:Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz "
                            "(cpu family 6, model 85, stepping 4)")
    # whole disks only: no partitions, loop/zram devices, USB sticks, volumes or zero serials
    assert found["disks"] == ["199663491880890010", "eui.0025385b71b0a1b2", "s3z1nb0k123456a",
                              "s4ewnx0n123456", "wwn-0x5002538e40a1b2c3"]
    # the model is kept for people, never as a mark
    assert not [k for k, _ in device.marks(found, client_ip=None, creator=None) if k == "cpu_serial"]


def test_collect_reads_an_arm_serial(tmp_path: Path) -> None:
    write(tmp_path, {
        "var/lib/dbus/machine-id": "b7e2a0c4d1f94e6a8c3b5d7e9f1a2b3c\n",
        "proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 108.00\n\nHardware\t: BCM2835\n"
                        "Revision\t: c03114\nSerial\t\t: 10000000A1B2C3D4\nModel\t\t: Raspberry Pi 4\n",
    })
    found = device._collect(tmp_path)
    assert found["host_id"] == "b7e2a0c4d1f94e6a8c3b5d7e9f1a2b3c"
    assert found["cpu"] == "serial:10000000a1b2c3d4"
    assert found["macs"] == found["disks"] == []
    assert ("cpu_serial", "10000000a1b2c3d4") in device.marks(found, client_ip=None, creator=None)


def test_collect_skips_placeholders_and_missing_files(tmp_path: Path) -> None:
    write(tmp_path, {
        "etc/machine-id": "uninitialized\n",
        "sys/class/dmi/id/product_uuid": "03000200-0400-0500-0006-000700080009\n",
        "proc/cpuinfo": "Serial\t\t: 0000000000000000\nHardware\t: BCM2835\n",
    })
    found = device._collect(tmp_path)
    assert found["host_id"] is None
    assert found["cpu"] == "model:BCM2835"
    empty = device._collect(tmp_path / "nothing")
    assert (empty["host_id"], empty["macs"], empty["disks"]) == (None, [], [])


# ----------------------------------------------------------------- MACs


@pytest.mark.parametrize(("given_mac", "expected"), [
    ("00:1B:21:3A:4F:5C", "00:1b:21:3a:4f:5c"),
    ("00-1b-21-3a-4f-5c", "00:1b:21:3a:4f:5c"),
    ("001b213a4f5c", "00:1b:21:3a:4f:5c"),
    ("001b.213a.4f5c", "00:1b:21:3a:4f:5c"),
    ("0:1b:21:3a:4f:5c", "00:1b:21:3a:4f:5c"),  # macOS drops leading zeros
    (" 00:1b:21:3a:4f:5c\n", "00:1b:21:3a:4f:5c"),
    ("00:00:00:00:00:00", None),  # loopback, dummy
    ("ff:ff:ff:ff:ff:ff", None),  # broadcast
    ("01:00:5e:00:00:01", None),  # multicast
    ("02:42:ac:11:00:02", None),  # docker: locally administered, and the same on every host
    ("52:54:00:12:34:56", None),  # QEMU default
    ("7a:9c:4f:00:11:22", None),  # veth, randomized Wi-Fi
    ("00:1b:21:3a:4f", None),
    ("00:1b:21:3a:4f:5c:6d", None),
    ("zz:1b:21:3a:4f:5c", None),
    ("", None),
    (None, None),
    (123, None),
    (["00:1b:21:3a:4f:5c"], None),
])
def test_normalize_mac(given_mac: Any, expected: str | None) -> None:
    assert device.normalize_mac(given_mac) == expected


# ----------------------------------------------------------------- marks

DEVICE: dict[str, Any] = {
    "format": 1,
    "host_id": " 3D1219C7C4C5404AAA1F6D2A48ADFDA4 ",
    "macs": ["00:1B:21:3A:4F:5C", "00-1b-21-3a-4f-5c", "3c:22:fb:01:02:03", "02:42:ac:11:00:02"],
    "cpu": "serial:10000000A1B2C3D4",
    "disks": ["S3Z1NB0K123456A", "s3z1nb0k123456a ", "", "0000000000"],
    "hostname": "DESKTOP-7Q3K2",
    "os": "Windows-10-10.0.19045-SP0",
    "tool": {"name": "tenderhall", "version": "0.1.0"},
}
CREATOR = {"tool": "Tenderhall", "version": "0.1.0 ", "machine_code": "AB12CD34EF56AB78",
           "serial": " TH-2025-000123 "}


def test_marks_are_normalized_and_deduplicated() -> None:
    found = device.marks(DEVICE, client_ip="::ffff:203.0.113.9", creator=CREATOR)
    check_marks(found)
    by_kind: dict[str, list[str]] = {}
    for kind, value in found:
        by_kind.setdefault(kind, []).append(value)
    assert by_kind["ip"] == ["203.0.113.9"]
    assert by_kind["host_id"] == ["3d1219c7c4c5404aaa1f6d2a48adfda4"]
    assert by_kind["mac"] == ["00:1b:21:3a:4f:5c", "3c:22:fb:01:02:03"]
    assert by_kind["cpu_serial"] == ["10000000a1b2c3d4"]
    assert by_kind["disk"] == ["s3z1nb0k123456a"]
    assert by_kind["machine_code"] == ["ab12cd34ef56ab78", device.machine_code(DEVICE)]
    assert by_kind["creator"] == ["tenderhall 0.1.0"]
    assert by_kind["tool_serial"] == ["th-2025-000123"]


def test_marks_accept_the_wire_structs() -> None:
    wire = msgspec.convert(DEVICE, device.DeviceIn)
    creator = msgspec.convert(CREATOR, device.CreatorIn)
    assert device.marks(wire, client_ip="203.0.113.9", creator=creator) == \
        device.marks(DEVICE, client_ip="203.0.113.9", creator=CREATOR)


def test_ip_alone() -> None:
    assert device.marks({}, client_ip=" 2001:DB8::1 ", creator=None) == [("ip", "2001:db8::1")]
    assert device.marks({}, client_ip="10.0.0.7", creator={}) == [("ip", "10.0.0.7")]
    assert device.marks({}, client_ip=None, creator=None) == []
    assert device.marks({}, client_ip="", creator=None) == []


def test_a_cpu_model_is_never_a_serial() -> None:
    for cpu in ("model:Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz (cpu family 6, model 158, stepping 10)",
                "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", "serial:0000000000000000", "serial:",
                "serial:short", "serial:Intel(R) Core(TM) i7", 12345678):
        found = device.marks({"cpu": cpu}, client_ip=None, creator=None)
        assert not [v for k, v in found if k == "cpu_serial"], cpu


def test_a_thousand_macs_are_capped() -> None:
    macs = [f"00:1b:21:{i >> 8 & 0xff:02x}:{i & 0xff:02x}:01" for i in range(1000)]
    disks = [f"SERIAL{i:06d}" for i in range(1000)]
    found = device.marks({"host_id": "3d1219c7c4c5404aaa1f6d2a48adfda4", "macs": macs, "disks": disks},
                         client_ip="203.0.113.9", creator=CREATOR)
    check_marks(found)
    kinds = [k for k, _ in found]
    assert 1 <= kinds.count("mac") <= device.MAX_MACS
    assert 1 <= kinds.count("disk") <= device.MAX_DISKS
    assert {"ip", "host_id", "creator", "tool_serial", "machine_code"} <= set(kinds)


@pytest.mark.parametrize("junk", [
    None, 1, 1.5, True, "a string", b"bytes", [], [1, 2], {"macs": "00:1b:21:3a:4f:5c"},
    {"host_id": 5, "macs": [None, 1, {"a": 1}, ["00:1b:21:3a:4f:5c"]], "disks": {"a": "b"},
     "cpu": ["serial:10000000a1b2c3d4"], "hostname": {"x": []}},
    {"host_id": "x" * 10_000, "disks": ["y" * 201, "z" * 10**6], "macs": ["0" * 10**6]},
    {"host_id": "bad\x00id", "disks": ["tab\tserial", "ok-serial"]},
    {"macs": [[[[[[]]]]]] * 100, "disks": [{"nested": {"deeper": ["x"]}}]},
])
@pytest.mark.parametrize("creator", [None, "junk", 7, [], {"tool": 1, "version": ["x"], "serial": {},
                                                          "machine_code": 5}])
def test_junk_is_skipped_never_raised(junk: Any, creator: Any) -> None:
    found = device.marks(junk, client_ip="203.0.113.9", creator=creator)
    check_marks(found)
    assert ("ip", "203.0.113.9") in found
    assert not [k for k, _ in found if k in {"host_id", "mac", "cpu_serial", "creator", "tool_serial"}]
    assert all(v == "ok-serial" for k, v in found if k == "disk")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=10), inner, max_size=8),
    max_leaves=25,
)
FIELDS = st.sampled_from(["host_id", "macs", "cpu", "disks", "hostname", "tool", "format",
                          "tool", "version", "serial", "machine_code"])


@settings(max_examples=150, database=None, deadline=None)
@given(device_=st.dictionaries(FIELDS, JSON) | JSON, creator=st.dictionaries(FIELDS, JSON) | JSON,
       ip=st.none() | st.text(max_size=300))
def test_marks_never_raise_on_any_json(device_: Any, creator: Any, ip: str | None) -> None:
    check_marks(device.marks(device_, client_ip=ip, creator=creator))


def test_wire_structs_bound_the_input() -> None:
    decoded = msgspec.json.decode(b'{"hostname": "h", "newer_field": {"x": 1}}', type=device.DeviceIn)
    assert decoded.hostname == "h" and decoded.macs == []
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"macs": ["00:1b:21:3a:4f:5c"] * 33}, device.DeviceIn)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"host_id": "x" * 201}, device.DeviceIn)
    creator = msgspec.convert({"tool": "tenderhall", "version": "0.1.0", "extra": 1}, device.CreatorIn)
    assert creator.machine_code is None and creator.serial is None
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"tool": "t" * 101, "version": "1"}, device.CreatorIn)


# ----------------------------------------------------------------- machine code


def test_machine_code_is_stable_and_sensitive() -> None:
    code = device.machine_code(DEVICE)
    assert re.fullmatch(r"[0-9a-f]{16}", code)
    reordered = {**DEVICE, "macs": list(reversed(DEVICE["macs"])), "host_id": DEVICE["host_id"].lower(),
                 "disks": ["s3z1nb0k123456a"], "hostname": "renamed", "os": "other"}
    assert device.machine_code(reordered) == code
    assert device.machine_code(msgspec.convert(DEVICE, device.DeviceIn)) == code
    changed = {**DEVICE, "macs": ["00:1b:21:3a:4f:5d", "3c:22:fb:01:02:03"]}
    assert device.machine_code(changed) != code
    assert device.machine_code({**DEVICE, "disks": ["other"]}) != code
    assert device.machine_code({**DEVICE, "host_id": None}) != code


def test_machine_code_of_this_machine_matches_its_mark() -> None:
    here = device.collect()
    code = device.machine_code(here)
    assert code == device.machine_code(device.collect())
    if here["host_id"] or here["macs"] or here["disks"]:
        assert ("machine_code", code) in device.marks(here, client_ip=None, creator=None)


def test_machines_without_identifiers_do_not_share_a_code() -> None:
    a = device.machine_code({"hostname": "desktop-a"})
    b = device.machine_code({"hostname": "desktop-b"})
    assert a != b
    # and the server does not invent a machine-code mark from nothing
    assert device.marks({"hostname": "desktop-a"}, client_ip=None, creator=None) == []
