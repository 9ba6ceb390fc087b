"""Ethereum addresses as the bot accepts them: ``0x`` and 40 hex digits, with the
EIP-55 mixed-case checksum verified when the digits are mixed case.

EIP-55 hashes the lower-case hex digits with Keccak-256 (the original Keccak padding,
not NIST SHA3-256, which gives different digests), and upper-cases each letter whose
nibble of the hash is 8 or more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from Crypto.Hash import keccak

_HEX40 = re.compile(r"^0x[0-9a-fA-F]{40}$")


def keccak256(data: bytes) -> bytes:
    """The Keccak-256 digest of ``data`` (Ethereum's hash)."""
    return keccak.new(digest_bits=256, data=data).digest()


def to_checksum(address: str) -> str:
    """The EIP-55 spelling of a well-formed ``0x`` + 40 hex address."""
    digits = address[2:].lower()
    nibbles = keccak256(digits.encode("ascii")).hex()[:40]
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(h, 16) >= 8 else c
        for c, h in zip(digits, nibbles, strict=True)
    )


@dataclass(frozen=True)
class Address:
    """A validated Ethereum address; ``key`` is its lower-case form, ``checksum`` its
    EIP-55 spelling."""

    key: str

    @property
    def checksum(self) -> str:
        """The EIP-55 mixed-case spelling."""
        return to_checksum(self.key)

    def __str__(self) -> str:
        return self.checksum

    @classmethod
    def parse(cls, text: str) -> Address:
        """Accept ``0x`` + 40 hex digits; all lower or all upper case as they are, mixed
        case only with a valid EIP-55 checksum. ValueError says what is wrong."""
        text = text.strip()
        if not _HEX40.match(text):
            shown = text if len(text) <= 50 else text[:47] + "..."
            raise ValueError(f"`{shown}` is not an address (0x followed by 40 hex digits)")
        digits = text[2:]
        if digits != digits.lower() and digits != digits.upper():
            if text != to_checksum(text):
                raise ValueError(
                    f"`{text}` fails its EIP-55 checksum: a digit or its case was mistyped; "
                    "copy the address again from its source"
                )
        return cls("0x" + digits.lower())
