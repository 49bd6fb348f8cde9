"""Write the test-only JWT signing keys under tests/fixtures/jwt/ (PKCS#8 PEM + public JWK).

These keys sign tokens in crates/palisade/tests/it/jwt.rs and in the benchmark; they protect
nothing. Regenerate with: python scripts/make_jwt_fixtures.py (needs `cryptography`).
"""
import base64
import json
import pathlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "jwt"


def b64(n: int, length: int | None = None) -> str:
    raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def write(name: str, key, jwk: dict) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (OUT / f"{name}.pem").write_bytes(pem)
    (OUT / f"{name}.jwk.json").write_text(json.dumps(jwk, indent=2) + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for kid in ["rsa-a", "rsa-b"]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = key.public_key().public_numbers()
        write(kid, key, {"kty": "RSA", "kid": kid, "use": "sig", "n": b64(pub.n), "e": b64(pub.e)})
        # The public key as PEM text: what an algorithm-confusion attacker uses as HMAC secret.
        (OUT / f"{kid}.pub.pem").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_numbers()
    write("ec-a", key, {"kty": "EC", "kid": "ec-a", "crv": "P-256", "x": b64(pub.x, 32), "y": b64(pub.y, 32)})
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    write("ed-a", key, {"kty": "OKP", "kid": "ed-a", "crv": "Ed25519", "x": x})


if __name__ == "__main__":
    main()
