"""The `passage` command: dev, serve, migrate, token."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_DATA_DIR = Path(".passage")
DEFAULT_PORT_BASE = 8400


BUILTIN_COMMANDS = ("dev", "token", "serve", "migrate", "asyncapi")


def _parser(*, with_components: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="passage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser(
        "dev", help="run everything locally: embedded PostgreSQL and NATS, services, gateway"
    )
    dev.add_argument("--demo", action="store_true", help="seed demo agencies and clients")
    dev.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where data, keys and logs live")
    dev.add_argument(
        "--port-base",
        type=int,
        default=DEFAULT_PORT_BASE,
        help="the gateway listens here, the services on the next four ports",
    )

    token = sub.add_parser("token", help="mint a dev token signed with the data folder's key")
    token.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    token.add_argument("--agency", required=True)
    token.add_argument("--role", action="append", required=True, help="repeat for several roles")
    token.add_argument("--sub", default=None, help="the subject (user or system id)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")

    serve = sub.add_parser("serve", help="run one component (what the container runs)")
    serve.add_argument("component")
    serve.add_argument("--host", default=None, help="default: PASSAGE_HOST")
    serve.add_argument("--port", type=int, default=None, help="default: PASSAGE_PORT")

    migrate = sub.add_parser("migrate", help="bring components' schemas to the latest migration")
    migrate.add_argument("components", nargs="*", help="default: all")

    sub.add_parser("asyncapi", help="print the event catalogue as an AsyncAPI 3.0 document (JSON)")
    if with_components:
        _add_component_commands(sub)
    return parser


def _add_component_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands the components contribute (`passage directory import`, `passage audit verify`)."""
    from passage.component import component_names, load_component

    for name in component_names():
        try:
            component = load_component(name)
        except Exception as exc:  # one broken component must not take the others' commands down
            print(f"passage: the {name} component could not be loaded: {exc}", file=sys.stderr)
            continue
        for command in component.commands:
            parser = sub.add_parser(command.name, help=f"{command.help} ({name})")
            command.configure(parser)
            parser.set_defaults(component_command=command)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Loading the components imports all of them; the built-in commands do without.
    builtin = bool(argv) and argv[0] in BUILTIN_COMMANDS
    args = _parser(with_components=not builtin).parse_args(argv)
    command = getattr(args, "component_command", None)
    if command is not None:
        return int(command.run(args))
    if args.command == "dev":
        from passage.cli.dev import run_dev

        return run_dev(data_dir=args.data_dir, port_base=args.port_base, demo=args.demo)
    if args.command == "token":
        return _token(args)
    if args.command == "serve":
        from passage.cli.serve import serve

        return serve(args.component, host=args.host, port=args.port)
    if args.command == "migrate":
        from passage.cli.serve import migrate

        return migrate(args.components)
    if args.command == "asyncapi":
        import json

        from passage.bus.asyncapi import asyncapi_document

        print(json.dumps(asyncapi_document(), indent=2))
        return 0
    raise AssertionError(args.command)


def _token(args: argparse.Namespace) -> int:
    from passage.auth import KNOWN_ROLES
    from passage.devkeys import key_paths, mint_token

    private_key, _ = key_paths(args.data_dir)
    if not private_key.exists():
        print(
            f"No dev key in {args.data_dir}: run `passage dev --data-dir {args.data_dir}` once first",
            file=sys.stderr,
        )
        return 2
    unknown = sorted(set(args.role) - KNOWN_ROLES)
    if unknown:
        print(
            f"Unknown role(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_ROLES))}", file=sys.stderr
        )
        return 2
    if args.ttl <= 0:
        print("--ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    print(mint_token(private_key, agency=args.agency, roles=args.role, sub=args.sub, ttl_seconds=args.ttl))
    return 0
