"""The deployment files agree with the code they deploy.

No Docker engine is needed: docker-compose.yml, deploy/Dockerfile and the Keycloak realm are
parsed and checked against what the installed package declares: the `passage` command's
subcommands, the components in the entry points, the fields of `Settings`, the claims `passage.auth`
accepts. A component added to the entry points without a compose service, a `PASSAGE_` variable no
setting reads, or a realm whose tokens Passage would refuse all fail here.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from passage.auth import ACCEPTED_ALGORITHMS, KNOWN_ROLES, subject_from_claims
from passage.cli import _parser
from passage.component import component_names
from passage.settings import DEV_SECRET_KEY, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
REALM_FILE = ROOT / "deploy" / "keycloak" / "passage-realm.json"
REALM = "passage"
JWKS_PATH = f"/realms/{REALM}/protocol/openid-connect/certs"
PASSAGE_VAR = re.compile(r"\bPASSAGE_[A-Z0-9_]+\b")
USER_PROFILE_PROVIDER = "org.keycloak.userprofile.UserProfileProvider"

Instructions = list[tuple[str, str]]


# --- reading the files -----------------------------------------------------------------------


_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` with nothing set in the environment: what a fresh checkout runs."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        op, name = match.group("op"), match.group("name")
        if op in (":-", "-"):
            return match.group("arg")
        if op in (":?", "?"):
            raise AssertionError(f"${{{name}}} must be set: {match.group('arg')}")
        raise AssertionError(f"${{{name}}} has no default, so the compose file cannot run as checked in")

    return _INTERPOLATION.sub(replace, value)


def _interpolated(node: Any) -> Any:
    if isinstance(node, str):
        return interpolate(node)
    if isinstance(node, list):
        return [_interpolated(n) for n in node]
    if isinstance(node, dict):
        return {k: _interpolated(v) for k, v in node.items()}
    return node


def raw_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _interpolated(raw_compose())  # type: ignore[no-any-return]


def dockerfile_instructions(text: str) -> Instructions:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: Instructions = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> Instructions:
    return dockerfile_instructions(DOCKERFILE.read_text())


def final_stage(instructions: Instructions) -> Instructions:
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "the Dockerfile has no FROM"
    return instructions[starts[-1] :]


def exec_form(instructions: Instructions, keyword: str) -> list[str]:
    """The last `keyword` of the final stage, which must be in exec (JSON) form."""
    values = [args for kw, args in final_stage(instructions) if kw == keyword]
    assert values, f"the Dockerfile's final stage has no {keyword}"
    parsed = json.loads(values[-1])
    assert isinstance(parsed, list), f"{keyword} must be in exec form, a JSON list"
    return [str(p) for p in parsed]


def dockerfile_env(instructions: Instructions) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in final_stage(instructions):
        if keyword == "ENV":
            for word in shlex.split(args):
                name, sep, value = word.partition("=")
                assert sep, f"write ENV as NAME=value: {args!r}"
                env[name] = value
    return env


def as_argv(command: Any) -> list[str]:
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(c) for c in command]


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {name: value for name, _, value in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose.get("services")
    assert isinstance(found, dict), "docker-compose.yml has no services"
    assert found, "docker-compose.yml has no services"
    return found


def passage_services(compose: Mapping[str, Any], dockerfile: Instructions) -> dict[str, list[str]]:
    """Each service that runs the Passage image, with the argv its container runs."""
    everything = services(compose)

    def built_here(service: Mapping[str, Any]) -> bool:
        build = service.get("build")
        if isinstance(build, str):
            return (ROOT / build / "Dockerfile").resolve() == DOCKERFILE
        if isinstance(build, dict):
            context = ROOT / str(build.get("context", "."))
            return (context / str(build.get("dockerfile", "Dockerfile"))).resolve() == DOCKERFILE
        return False

    images = {s.get("image") for s in everything.values() if built_here(s)} - {None}
    entrypoint = exec_form(dockerfile, "ENTRYPOINT")
    default_cmd = exec_form(dockerfile, "CMD")
    result: dict[str, list[str]] = {}
    for name, service in everything.items():
        if not built_here(service) and service.get("image") not in images:
            continue
        argv = as_argv(service["entrypoint"]) if "entrypoint" in service else list(entrypoint)
        command = as_argv(service.get("command")) or default_cmd
        result[name] = argv + command
    return result


def is_image(service: Mapping[str, Any], repository: str) -> bool:
    return str(service.get("image", "")).split(":")[0] == repository


def service_with_image(compose: Mapping[str, Any], repository: str) -> tuple[str, dict[str, Any]]:
    matches = [(n, s) for n, s in services(compose).items() if is_image(s, repository)]
    assert len(matches) == 1, f"expected one service running the {repository} image, found {len(matches)}"
    return matches[0]


def image_version(service: Mapping[str, Any]) -> tuple[int, ...]:
    tag = str(service.get("image", "")).partition(":")[2]
    match = re.match(r"v?(\d+(?:\.\d+)*)", tag)
    assert match, f"pin a version tag, not {tag or 'nothing'!r}"
    return tuple(int(p) for p in match.group(1).split("."))


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    data = json.loads(REALM_FILE.read_text())
    assert isinstance(data, dict)
    return data


def client(realm: Mapping[str, Any], client_id: str) -> dict[str, Any]:
    matches = [c for c in realm.get("clients", []) if c.get("clientId") == client_id]
    assert len(matches) == 1, f"the realm has {len(matches)} clients named {client_id!r}"
    found: dict[str, Any] = matches[0]
    return found


# --- the checks, as functions the tests below also feed with broken input ---------------------


def command_problems(argv: list[str], names: list[str]) -> list[str]:
    """Why `argv` is not a command the Passage image can run (an empty list when it is)."""
    if not argv or argv[0] != "passage":
        return [f"{argv}: runs {argv[:1]}, not the passage command"]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            args = _parser().parse_args(argv[1:])
    except SystemExit:
        return [f"{argv}: `passage` refuses it: {stderr.getvalue().strip().splitlines()[-1:]}"]
    if args.command == "serve" and args.component not in names:
        return [f"{argv}: no component {args.component!r}; known: {', '.join(names)}"]
    if args.command == "migrate":
        return [f"{argv}: no component {c!r}" for c in args.components if c not in names]
    if args.command not in ("serve", "migrate"):
        return [f"{argv}: `passage {args.command}` is not for containers"]
    return []


def unknown_settings(variables: set[str]) -> list[str]:
    fields = set(Settings.model_fields)
    return sorted(v for v in variables if v.removeprefix("PASSAGE_").lower() not in fields)


def served_components(argvs: Mapping[str, list[str]]) -> dict[str, str]:
    """component -> the service that serves it."""
    served: dict[str, str] = {}
    for service, argv in argvs.items():
        if argv[1:2] == ["serve"] and len(argv) > 2:
            served[argv[2]] = service
    return served


def missing_components(argvs: Mapping[str, list[str]], names: list[str]) -> list[str]:
    served = served_components(argvs)
    return [n for n in names if n not in served]


def passage_variables(node: Any) -> set[str]:
    """Every PASSAGE_* name in keys and values, including `${PASSAGE_X:-...}` interpolations."""
    found: set[str] = set()
    if isinstance(node, str):
        found |= set(PASSAGE_VAR.findall(node))
    elif isinstance(node, list):
        for item in node:
            found |= passage_variables(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            found |= passage_variables(str(key)) | passage_variables(value)
    return found


def settings_from(env: Mapping[str, str]) -> Settings:
    """What `Settings()` builds inside the container from `env`."""
    fields: dict[str, Any] = {
        k.removeprefix("PASSAGE_").lower(): v for k, v in env.items() if k.startswith("PASSAGE_")
    }
    return Settings(**fields)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings also read os.environ: keep the runner's PASSAGE_ variables out of the checks."""
    for name in [n for n in os.environ if n.startswith("PASSAGE_")]:
        monkeypatch.delenv(name)


def token_claims(client: Mapping[str, Any], user: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The access-token claims a client's protocol mappers add (hardcoded, user attribute, audience)."""
    claims: dict[str, Any] = {"sub": user["username"] if user else f"service-account-{client['clientId']}"}
    audiences: list[str] = []
    for mapper in client.get("protocolMappers", []):
        config = mapper.get("config", {})
        kind = mapper.get("protocolMapper")
        if kind == "oidc-audience-mapper":
            if config.get("access.token.claim") == "true" and config.get("included.custom.audience"):
                audiences.append(config["included.custom.audience"])
            continue
        if config.get("access.token.claim") != "true":
            continue
        if kind == "oidc-hardcoded-claim-mapper":
            value: Any = config.get("claim.value")
            if config.get("jsonType.label") == "JSON":
                value = json.loads(value)
        elif kind == "oidc-usermodel-attribute-mapper" and user is not None:
            values = user.get("attributes", {}).get(config.get("user.attribute"), [])
            value = list(values) if config.get("multivalued") == "true" else (values[0] if values else None)
        else:
            continue
        claim = config.get("claim.name", "")
        assert "." not in claim, f"claim {claim!r} would be nested; Passage reads top-level claims"
        claims[claim] = value
    if audiences:
        claims["aud"] = audiences
    return claims


# --- (a) commands -------------------------------------------------------------------------------


def test_every_passage_container_runs_a_real_command(
    compose: dict[str, Any], dockerfile: Instructions
) -> None:
    argvs = passage_services(compose, dockerfile)
    assert argvs, "no service runs the image built from deploy/Dockerfile"
    names = component_names()
    problems = [p for argv in argvs.values() for p in command_problems(argv, names)]
    assert problems == []
    assert any(argv[1:2] == ["migrate"] for argv in argvs.values()), "no service runs `passage migrate`"


def test_commands_that_mention_passage_elsewhere_are_real(
    compose: dict[str, Any], dockerfile: Instructions
) -> None:
    ours = passage_services(compose, dockerfile)
    names = component_names()
    for name, service in services(compose).items():
        argv = as_argv(service.get("command"))
        if name not in ours and argv[:1] == ["passage"]:
            assert command_problems(argv, names) == [], name


def test_the_image_default_command_is_real(dockerfile: Instructions) -> None:
    argv = exec_form(dockerfile, "ENTRYPOINT") + exec_form(dockerfile, "CMD")
    assert command_problems(argv, component_names()) == []


def test_broken_commands_are_reported() -> None:
    names = component_names()
    assert command_problems(["passage", "serve", "intake"], names) == []
    assert command_problems(["passage", "migrate"], names) == []
    assert command_problems(["passage", "serve", "no-such-component"], names)
    assert command_problems(["passage", "migrate", "no-such-component"], names)
    assert command_problems(["passage", "srve", "intake"], names)
    assert command_problems(["passage", "serve"], names)
    # `command: passage serve x` under ENTRYPOINT ["passage"] runs `passage passage serve x`.
    assert command_problems(["passage", "passage", "serve", "intake"], names)
    assert command_problems(["python", "-m", "passage", "serve", "intake"], names)
    assert command_problems(["passage", "dev"], names)


# --- (b) settings ---------------------------------------------------------------------------------


def test_every_passage_variable_is_a_setting() -> None:
    named = passage_variables(raw_compose())
    assert {"PASSAGE_DATABASE_URL", "PASSAGE_NATS_URL", "PASSAGE_JWT_JWKS_URL"} <= named
    assert unknown_settings(named) == []
    assert unknown_settings(set(PASSAGE_VAR.findall(DOCKERFILE.read_text()))) == []


def test_unknown_variables_are_reported() -> None:
    assert unknown_settings({"PASSAGE_NATS_URL", "PASSAGE_SMTP_HOST", "PASSAGE_JWKS_URL"}) == [
        "PASSAGE_JWKS_URL",
        "PASSAGE_SMTP_HOST",
    ]
    assert passage_variables({"x": ["${PASSAGE_A:-1}", {"PASSAGE_B": "y"}], "PASSAGE_C": 1}) == {
        "PASSAGE_A",
        "PASSAGE_B",
        "PASSAGE_C",
    }


def test_interpolation_follows_compose() -> None:
    assert interpolate("a${X:-b}c${Y-d}$$e") == "abcd$e"
    with pytest.raises(AssertionError):
        interpolate("${SECRET:?set it}")
    with pytest.raises(AssertionError):
        interpolate("${SECRET}")


# --- (c) components ---------------------------------------------------------------------------


def test_every_component_has_a_service(compose: dict[str, Any], dockerfile: Instructions) -> None:
    argvs = passage_services(compose, dockerfile)
    assert missing_components(argvs, component_names()) == []


def test_a_component_without_a_service_is_reported(compose: dict[str, Any], dockerfile: Instructions) -> None:
    argvs = passage_services(compose, dockerfile)
    assert missing_components(argvs, [*component_names(), "no-such-component"]) == ["no-such-component"]


def test_components_wait_for_their_dependencies(compose: dict[str, Any], dockerfile: Instructions) -> None:
    everything = services(compose)
    argvs = passage_services(compose, dockerfile)
    postgres, _ = service_with_image(compose, "postgres")
    nats, _ = service_with_image(compose, "nats")
    migrations = [name for name, argv in argvs.items() if argv[1:2] == ["migrate"]]
    assert len(migrations) == 1
    migrate = migrations[0]
    assert everything[migrate]["depends_on"][postgres]["condition"] == "service_healthy"
    assert everything[migrate].get("restart") == "no", "a one-shot migration must not be restarted"
    for component, name in served_components(argvs).items():
        depends_on = everything[name].get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        assert depends_on.get(postgres, {}).get("condition") == "service_healthy", component
        assert depends_on.get(nats, {}).get("condition") == "service_healthy", component
        assert depends_on.get(migrate, {}).get("condition") == "service_completed_successfully", component


# --- (d) PostgreSQL and NATS --------------------------------------------------------------------


def _has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable") and check.get("test") != ["NONE"]


def test_postgres_and_nats_have_healthchecks_and_nats_runs_jetstream(compose: dict[str, Any]) -> None:
    _, postgres = service_with_image(compose, "postgres")
    _, nats = service_with_image(compose, "nats")
    assert _has_healthcheck(postgres)
    assert _has_healthcheck(nats)
    assert image_version(postgres)[0] in (16, 17)
    assert image_version(nats)[:2] >= (2, 10)
    command = as_argv(nats.get("command"))
    assert "-js" in command or "--jetstream" in command, "nats-server without JetStream"
    # The healthcheck needs the monitoring port, and a shell tool the scratch image does not have.
    assert "--http_port" in command or "-m" in command
    assert "alpine" in str(nats["image"])


def test_urls_point_at_the_services(compose: dict[str, Any], dockerfile: Instructions) -> None:
    everything = services(compose)
    argvs = passage_services(compose, dockerfile)
    served = served_components(argvs)
    postgres_name, postgres = service_with_image(compose, "postgres")
    nats_name, _ = service_with_image(compose, "nats")
    pg_env = environment_of(postgres)
    for name in argvs:
        settings = settings_from(environment_of(everything[name]))
        database = make_url(settings.database_url)
        assert database.drivername == "postgresql+asyncpg"
        assert database.host == postgres_name
        assert database.username == pg_env["POSTGRES_USER"]
        assert database.password == pg_env["POSTGRES_PASSWORD"]
        assert database.database == pg_env["POSTGRES_DB"]
        assert urlsplit(settings.nats_url).hostname == nats_name
        for component in component_names():
            if f"{component}_url" not in Settings.model_fields:
                continue
            url = urlsplit(settings.service_url(component))
            assert url.hostname == served[component], f"{name}: {component} is served by {served[component]}"
            target = settings_from(environment_of(everything[served[component]]))
            assert url.port == target.port, f"{name}: {component} listens on {target.port}"


# --- (e) the Dockerfile -------------------------------------------------------------------------


def test_dockerfile_runs_passage_as_a_non_root_user(dockerfile: Instructions) -> None:
    assert exec_form(dockerfile, "ENTRYPOINT") == ["passage"]
    users = [args for keyword, args in final_stage(dockerfile) if keyword == "USER"]
    assert users, "the image would run as root: add a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_base_install_port_and_healthcheck(dockerfile: Instructions) -> None:
    bases = [args.split()[0] for keyword, args in dockerfile if keyword == "FROM"]
    assert bases
    assert all(b.startswith("python:3.11-slim") for b in bases), bases
    runs = " ".join(args for keyword, args in dockerfile if keyword == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs), "install the project with `pip install .`"
    env = dockerfile_env(dockerfile)
    assert env.get("PASSAGE_HOST") == "0.0.0.0"
    exposed = [
        port for keyword, args in final_stage(dockerfile) if keyword == "EXPOSE" for port in args.split()
    ]
    assert exposed == ["8000"]
    image_port = env.get("PASSAGE_PORT", str(Settings.model_fields["port"].default))
    assert image_port == "8000", "the image listens where it says it does"
    healthchecks = [args for keyword, args in final_stage(dockerfile) if keyword == "HEALTHCHECK"]
    assert healthchecks, "no HEALTHCHECK"
    assert "/health" in healthchecks[-1]
    assert "urllib" in healthchecks[-1]


def test_the_build_context_holds_what_the_dockerfile_copies(dockerfile: Instructions) -> None:
    ignored = [
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv"} <= set(ignored)
    for keyword, args in dockerfile:
        if keyword != "COPY" or "--from" in args:
            continue
        *sources, _destination = args.split()
        for source in sources:
            if "*" in source:
                continue
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), f"{source} is ignored"


# --- (f) the Keycloak realm ----------------------------------------------------------------------


def test_partner_demo_tokens_are_accepted_by_passage(realm: dict[str, Any]) -> None:
    assert realm["realm"] == REALM
    assert realm.get("enabled") is True
    assert realm.get("defaultSignatureAlgorithm", "RS256") in ACCEPTED_ALGORITHMS
    partner = client(realm, "partner-demo")
    assert partner.get("enabled", True) is True
    assert partner["serviceAccountsEnabled"] is True
    assert partner.get("publicClient") is False
    assert partner.get("secret"), "a confidential client needs a secret for client credentials"

    claims = token_claims(partner)
    assert isinstance(claims.get("agency"), str)
    assert isinstance(claims.get("roles"), list)
    assert claims["roles"]
    assert set(claims["roles"]) <= KNOWN_ROLES
    assert "passage" in claims.get("aud", [])
    subject = subject_from_claims(claims)
    assert subject.agency == "demo-agency"
    assert "partner_system" in subject.roles


def test_demo_caseworker_tokens_are_accepted_by_passage(realm: dict[str, Any]) -> None:
    mobile = client(realm, "passage-mobile")
    assert mobile["publicClient"] is True
    assert mobile["standardFlowEnabled"] is True
    assert mobile.get("attributes", {}).get("pkce.code.challenge.method") == "S256"
    assert not mobile.get("directAccessGrantsEnabled", False)
    users = [u for u in realm.get("users", []) if u["username"] == "demo-caseworker"]
    assert len(users) == 1
    user = users[0]
    assert user["enabled"] is True
    assert any(c["type"] == "password" and c.get("value") for c in user.get("credentials", []))

    claims = token_claims(mobile, user)
    assert "passage" in claims.get("aud", [])
    assert set(claims["roles"]) <= KNOWN_ROLES
    subject = subject_from_claims(claims)
    assert subject.agency == "demo-agency"
    assert subject.roles == {"case_worker"}


def test_users_cannot_change_their_own_agency_or_roles(realm: dict[str, Any]) -> None:
    providers = realm["components"][USER_PROFILE_PROVIDER]
    profile = json.loads(providers[0]["config"]["kc.user.profile.config"][0])
    attributes = {a["name"]: a for a in profile["attributes"]}
    for name in ("agency", "roles"):
        assert attributes[name]["permissions"]["edit"] == ["admin"], name
    assert attributes["roles"]["multivalued"] is True
    # A person never carries `service`: that role belongs to the components' own client.
    assert set(attributes["roles"]["validations"]["options"]["options"]) == KNOWN_ROLES - {"service"}
    assert profile.get("unmanagedAttributePolicy") in (None, "DISABLED", "ADMIN_VIEW", "ADMIN_EDIT")


def test_a_client_without_the_claims_is_reported() -> None:
    bare = {"clientId": "bare", "protocolMappers": []}
    assert token_claims(bare) == {"sub": "service-account-bare"}
    nested = {
        "clientId": "nested",
        "protocolMappers": [
            {
                "protocolMapper": "oidc-hardcoded-claim-mapper",
                "config": {"claim.name": "passage.agency", "claim.value": "a", "access.token.claim": "true"},
            }
        ],
    }
    with pytest.raises(AssertionError):
        token_claims(nested)


# --- (g) Keycloak in compose ---------------------------------------------------------------------


def test_token_settings_refer_to_the_realm(
    compose: dict[str, Any], dockerfile: Instructions, realm: dict[str, Any]
) -> None:
    keycloak_name, keycloak = service_with_image(compose, "quay.io/keycloak/keycloak")
    assert image_version(keycloak)[0] >= 24
    command = as_argv(keycloak.get("command"))
    assert "start-dev" in command
    assert "--import-realm" in command
    mounts = [str(v).split(":") for v in keycloak.get("volumes", [])]
    imported = [Path(m[0]) for m in mounts if len(m) > 1 and m[1] == "/opt/keycloak/data/import"]
    assert imported, "the realm folder is not mounted where --import-realm looks"
    assert (ROOT / imported[0] / REALM_FILE.name).resolve() == REALM_FILE
    assert realm["realm"] == REALM

    public_url = environment_of(keycloak).get("KC_HOSTNAME", "")
    assert urlsplit(public_url).scheme in ("http", "https"), "KC_HOSTNAME as a full URL keeps `iss` stable"
    everything = services(compose)
    for name in passage_services(compose, dockerfile):
        env = environment_of(everything[name])
        assert env["PASSAGE_JWT_ISSUER"] == f"{public_url.rstrip('/')}/realms/{REALM}", name
        jwks = urlsplit(env["PASSAGE_JWT_JWKS_URL"])
        assert jwks.hostname == keycloak_name, f"{name}: fetch keys inside the compose network"
        assert jwks.path == JWKS_PATH, name
        assert env.get("PASSAGE_JWT_AUDIENCE", Settings.model_fields["jwt_audience"].default) == "passage"


# --- (h) production settings --------------------------------------------------------------------


def test_every_passage_container_has_valid_production_settings(
    compose: dict[str, Any], dockerfile: Instructions
) -> None:
    everything = services(compose)
    image_env = dockerfile_env(dockerfile)
    for name in passage_services(compose, dockerfile):
        settings = settings_from({**image_env, **environment_of(everything[name])})
        assert settings.env == "production", name
        assert settings.secret_key.get_secret_value() != DEV_SECRET_KEY, name
        assert settings.jwt_jwks_url, name
        assert settings.host == "0.0.0.0", f"{name} would listen on loopback only"


def test_gateway_is_published_on_8400(compose: dict[str, Any], dockerfile: Instructions) -> None:
    gateway = services(compose)[served_components(passage_services(compose, dockerfile))["gateway"]]
    settings = settings_from({**dockerfile_env(dockerfile), **environment_of(gateway)})
    assert f"8400:{settings.port}" in [str(p) for p in gateway.get("ports", [])]


def test_production_settings_refuse_a_dev_secret_or_no_issuer_keys(
    compose: dict[str, Any], dockerfile: Instructions
) -> None:
    argvs = passage_services(compose, dockerfile)
    env = environment_of(services(compose)[served_components(argvs)["gateway"]])
    with pytest.raises(ValidationError, match="PASSAGE_SECRET_KEY"):
        settings_from({**env, "PASSAGE_SECRET_KEY": DEV_SECRET_KEY})
    without_keys = {k: v for k, v in env.items() if k != "PASSAGE_JWT_JWKS_URL"}
    with pytest.raises(ValidationError, match="PASSAGE_JWT_JWKS_URL"):
        settings_from(without_keys)
