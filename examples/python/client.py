"""A Python service using tessera: log in over gRPC, verify the access token locally
against tessera's JWKS over HTTP with a standard JWT library (PyJWT), and refresh.

    pip install -r examples/python/requirements.txt
    TESSERA_HTTP_LISTEN=127.0.0.1:8080 cargo run -- serve      # in another terminal
    python3 examples/python/client.py --email ada@example.com --password 'correct horse battery'

The stubs are generated from proto/ at start (grpcio-tools), so the example always
matches the API it runs against. It prints one line per step and exits 0 when every
step worked; nothing secret is printed.
"""

import argparse
import importlib
import os
import sys
import tempfile

import grpc
import jwt
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "proto")


def load_stubs():
    """Generates the tessera.auth.v1 stubs into a temporary folder and imports them."""
    out = tempfile.mkdtemp(prefix="tessera-stubs-")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            "tessera/auth/v1/auth.proto",
        ]
    )
    if status != 0:
        sys.exit(f"cannot compile {PROTO_ROOT}/tessera/auth/v1/auth.proto")
    sys.path.insert(0, out)
    messages = importlib.import_module("tessera.auth.v1.auth_pb2")
    services = importlib.import_module("tessera.auth.v1.auth_pb2_grpc")
    return messages, services


def verify_locally(jwks: jwt.PyJWKClient, token: str, issuer: str, audience: str) -> dict:
    """Verifies `token` with the key its `kid` names: RS256 only, iss, aud and exp."""
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        leeway=30,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grpc", default="127.0.0.1:50051", help="tessera's gRPC address")
    parser.add_argument("--http", default="http://127.0.0.1:8080", help="tessera's HTTP base URL")
    parser.add_argument("--issuer", default="tessera")
    parser.add_argument("--audience", default="tessera")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--register", action="store_true", help="register the email first")
    args = parser.parse_args()

    pb, rpc = load_stubs()
    with grpc.insecure_channel(args.grpc) as channel:
        auth = rpc.AuthServiceStub(channel)
        if args.register:
            auth.Register(pb.RegisterRequest(email=args.email, password=args.password))
            print("registered")
        login = auth.Login(pb.LoginRequest(email=args.email, password=args.password))
        print(f"logged in as {login.user.id}")

        jwks = jwt.PyJWKClient(f"{args.http}/.well-known/jwks.json")
        claims = verify_locally(jwks, login.tokens.access_token, args.issuer, args.audience)
        print(f"verified locally: sub={claims['sub']} roles={','.join(claims['roles'])}")

        refreshed = auth.Refresh(pb.RefreshRequest(refresh_token=login.tokens.refresh_token))
        again = verify_locally(jwks, refreshed.tokens.access_token, args.issuer, args.audience)
        if again["sid"] != claims["sid"]:
            print("the refreshed token names another session", file=sys.stderr)
            return 1
        print(f"refreshed: session {again['sid']} continues")

        # The spent refresh token is reuse: tessera revokes the session.
        try:
            auth.Refresh(pb.RefreshRequest(refresh_token=login.tokens.refresh_token))
            print("a spent refresh token was accepted", file=sys.stderr)
            return 1
        except grpc.RpcError as e:
            print(f"reused refresh token refused: {e.code().name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
