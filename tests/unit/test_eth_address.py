"""Addresses: 0x + 40 hex, EIP-55 checksums verified with Keccak-256 (the EIP's own
examples), never NIST SHA3-256."""

from __future__ import annotations

import hashlib

import pytest

from integrations.eth_address import Address, keccak256, to_checksum

EIP55_EXAMPLES = (  # from the EIP-55 specification
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
)


def test_keccak_is_ethereums_hash_not_sha3() -> None:
    empty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"").hex() == empty
    assert hashlib.sha3_256(b"").hexdigest() != empty


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_the_eip55_examples_are_accepted_and_spelled_back(address: str) -> None:
    parsed = Address.parse(address)
    assert parsed.key == address.lower()
    assert to_checksum(address.lower()) == address or address[2:] in (
        address[2:].lower(),
        address[2:].upper(),
    )


def test_mixed_case_must_match_its_checksum() -> None:
    good = EIP55_EXAMPLES[4]
    flipped = good[:-1] + good[-1].upper()
    with pytest.raises(ValueError, match="EIP-55 checksum"):
        Address.parse(flipped)
    assert Address.parse(good.lower()).checksum == good  # no case, no checksum to check
    assert Address.parse("0x" + good[2:].upper()).checksum == good


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0x",
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0x5aAeb6053F3E94C9b9A0",
        "0xZZ" + "0" * 38,
    ],
)
def test_anything_else_is_not_an_address(text: str) -> None:
    with pytest.raises(ValueError, match="not an address"):
        Address.parse(text)
