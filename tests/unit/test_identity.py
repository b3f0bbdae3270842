from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from libs.contracts.identity import (
    ComputeEnvCreated,
    OrganizationCreated,
    OrgMemberAdded,
    ParticipantAdded,
    ParticipantRemoved,
    ParticipantRoleChanged,
    TokenIssued,
    TokenRevoked,
    TokenRotated,
    UserCreated,
    WorkspaceCreated,
)
from libs.testing.given_when_then import Aggregate
from services.gateway.domain import organization as org
from services.gateway.domain import resources as res
from services.gateway.domain import token as tok
from services.gateway.domain import user as usr
from services.gateway.domain import workspace as wsp
from services.gateway.domain.permissions import Role

NOW = datetime(2025, 1, 1, tzinfo=UTC)
# One convention (decide/evolve/INITIAL per aggregate module), so one helper serves every aggregate.
users = Aggregate.of(usr)
tokens = Aggregate.of(tok)
orgs = Aggregate.of(org)
workspaces = Aggregate.of(wsp)
compute_envs = data_links = labels = Aggregate.of(res)

CREATE_USER = usr.CreateUser(7, "ada", "ada@example.org", NOW, "1")
USER = UserCreated(user_id=7, user_name="ada", email="ada@example.org", at=NOW, actor="1")
ISSUE = tok.IssueToken(9, 7, "laptop", "h1", NOW, "7")
ISSUED = TokenIssued(token_id=9, user_id=7, name="laptop", token_hash="h1", at=NOW, actor="7")
WS = wsp.CreateWorkspace(3, 1, "lab", "The lab", 7, 30, NOW, "7")
WS_CREATED = [WorkspaceCreated(workspace_id=3, org_id=1, name="lab", full_name="The lab", at=NOW, actor="7"),
              ParticipantAdded(workspace_id=3, participant_id=30, user_id=7, role="owner", at=NOW, actor="7")]


def test_a_user_is_created_once_and_a_repeat_is_a_no_op() -> None:
    users.given().when(CREATE_USER).then(USER)
    users.given(USER).when(CREATE_USER).then_nothing()
    users.given(USER).when(usr.CreateUser(7, "bob", "b@x.org", NOW, "1")).then_raises(Conflict)


@pytest.mark.parametrize("name,email", [("a", "a@x.org"), ("-ada", "a@x.org"), ("a b", "a@x.org"),
                                        ("ada", "not-an-email")])
def test_bad_user_names_and_emails_are_invalid_input(name: str, email: str) -> None:
    users.given().when(usr.CreateUser(7, name, email, NOW, "1")).then_raises(InvalidInput)


def test_a_token_stores_its_hash_and_is_revoked_once() -> None:
    state = tokens.given().when(ISSUE).then(ISSUED)
    assert state.token_hash == "h1"
    revoked = TokenRevoked(token_id=9, user_id=7, at=NOW, actor="7")
    tokens.given(ISSUED).when(tok.RevokeToken(9, NOW, "7")).then(revoked)
    tokens.given(ISSUED, revoked).when(tok.RevokeToken(9, NOW, "7")).then_nothing()
    tokens.given().when(tok.RevokeToken(9, NOW, "7")).then_raises(NotFound)


def test_a_token_expiry_must_be_in_the_future_and_scopes_known() -> None:
    past = tok.IssueToken(9, 7, "x", "h", NOW, "7", expiry=NOW - timedelta(seconds=1))
    tokens.given().when(past).then_raises(InvalidInput, "expiry")
    tokens.given().when(tok.IssueToken(9, 7, "x", "h", NOW, "7", scopes=("studio:fly",))).then_raises(InvalidInput)
    tokens.given().when(tok.IssueToken(9, 7, "", "h", NOW, "7")).then_raises(InvalidInput)


def test_rotating_the_bootstrap_token_issues_then_rehashes() -> None:
    tokens.given().when(tok.RotateToken(ISSUE)).then(ISSUED)
    tokens.given(ISSUED).when(tok.RotateToken(ISSUE)).then_nothing()
    new = tok.RotateToken(tok.IssueToken(9, 7, "laptop", "h2", NOW, "7"))
    state = tokens.given(ISSUED).when(new).then(TokenRotated(token_id=9, token_hash="h2", at=NOW, actor="7"))
    assert state.token_hash == "h2"


def test_an_organization_starts_with_its_creator_as_owner() -> None:
    cmd = org.CreateOrganization(1, "acme", "Acme", 7, 11, NOW, "7")
    state = orgs.given().when(cmd).then(
        OrganizationCreated(org_id=1, name="acme", full_name="Acme", at=NOW, actor="7"),
        OrgMemberAdded(org_id=1, member_id=11, user_id=7, role="owner", at=NOW, actor="7"))
    assert state.members == {7: "owner"}
    orgs.given().when(org.AddOrgMember(1, 12, 8, NOW, "7")).then_raises(NotFound)


def test_a_workspace_starts_with_its_creator_as_owner() -> None:
    workspaces.given().when(WS).then(WS_CREATED)
    workspaces.given(WS_CREATED).when(WS).then_nothing()
    bad = wsp.CreateWorkspace(3, 1, "lab", "x", 7, 30, NOW, "7", visibility="PUBLIC")
    workspaces.given().when(bad).then_raises(InvalidInput)


def test_admins_add_participants_up_to_admin_and_only_owners_add_owners() -> None:
    add = wsp.AddParticipant(31, 8, "view", Role.ADMIN, NOW, "7")
    workspaces.given(WS_CREATED).when(add).then(
        ParticipantAdded(workspace_id=3, participant_id=31, user_id=8, role="view", at=NOW, actor="7"))
    owner = wsp.AddParticipant(31, 8, "owner", Role.ADMIN, NOW, "7")
    workspaces.given(WS_CREATED).when(owner).then_raises(Forbidden)
    workspaces.given(WS_CREATED).when(wsp.AddParticipant(31, 8, "guru", Role.OWNER, NOW, "7")).then_raises(
        InvalidInput)
    workspaces.given(WS_CREATED).when(wsp.AddParticipant(31, 7, "view", Role.OWNER, NOW, "7")).then_raises(
        Conflict)


def test_roles_change_and_the_last_owner_stays() -> None:
    added = ParticipantAdded(workspace_id=3, participant_id=31, user_id=8, role="view", at=NOW, actor="7")
    change = wsp.ChangeParticipantRole(31, "launch", Role.ADMIN, NOW, "7")
    workspaces.given(WS_CREATED, added).when(change).then(
        ParticipantRoleChanged(workspace_id=3, participant_id=31, user_id=8, role="launch", at=NOW, actor="7"))
    demote = wsp.ChangeParticipantRole(30, "admin", Role.OWNER, NOW, "7")
    workspaces.given(WS_CREATED).when(demote).then_raises(Conflict, "last owner")
    leave = wsp.RemoveParticipant(30, Role.OWNER, NOW, "7", leaving=True)
    workspaces.given(WS_CREATED).when(leave).then_raises(Conflict)
    remove = wsp.RemoveParticipant(31, Role.ADMIN, NOW, "7")
    workspaces.given(WS_CREATED, added).when(remove).then(
        ParticipantRemoved(workspace_id=3, participant_id=31, user_id=8, at=NOW, actor="7"))


def _ce(platform: str, config: object, admin: bool = False) -> res.CreateComputeEnv:
    return res.CreateComputeEnv("ce1", 3, "local", platform, config, admin, NOW, "7")


def test_compute_env_configs_follow_seqera_and_reject_typos() -> None:
    compute_envs.given().when(_ce("local-platform", {"workDir": "/w", "discriminator": "local"})).then(
        ComputeEnvCreated(compute_env_id="ce1", workspace_id=3, name="local", platform="local-platform",
                          config={"workDir": "/w"}, at=NOW, actor="7"))
    compute_envs.given().when(_ce("local-platform", {"workdir": "/w"})).then_raises(InvalidInput, "workDir")
    compute_envs.given().when(_ce("aws-batch", {"workDir": "/w"})).then_raises(InvalidInput, "platform")
    compute_envs.given().when(_ce("k8s-platform", {"workDir": "/w", "podCleanup": "sometimes"})).then_raises(
        InvalidInput)


def test_only_system_admins_allow_custom_commands() -> None:
    config = {"workDir": "/w", "allowCustomCommands": True}
    compute_envs.given().when(_ce("local-platform", config)).then_raises(Forbidden)
    [event] = res.decide(res.INITIAL, _ce("local-platform", config, admin=True))
    assert isinstance(event, ComputeEnvCreated) and event.allow_custom_commands
    compute_envs.given().when(_ce("docker-platform", config, admin=True)).then_raises(InvalidInput)


def test_data_links_name_a_supported_store_and_host_folders_need_an_admin() -> None:
    def link(ref: str, admin: bool = False) -> res.CreateDataLink:
        return res.CreateDataLink("dl1", 3, "data", ref, admin, NOW, "7")

    data_links.given().when(link("file:///srv/data")).then_raises(Forbidden)
    data_links.given().when(link("file://relative")).then_raises(InvalidInput)
    data_links.given().when(link("ftp://x/y")).then_raises(InvalidInput)
    [event] = res.decide(res.INITIAL, link("s3://bucket/prefix"))
    assert event.provider == "aws"  # type: ignore[attr-defined]


def test_resource_labels_need_a_value_and_simple_ones_none() -> None:
    labels.given().when(res.CreateLabel(5, 3, "env", NOW, "7", resource=True)).then_raises(InvalidInput)
    labels.given().when(res.CreateLabel(5, 3, "env", NOW, "7", value="x")).then_raises(InvalidInput)
    labels.given().when(res.CreateLabel(5, 3, "bad name", NOW, "7")).then_raises(InvalidInput)
