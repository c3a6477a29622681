"""Logging in: passwords, session and static tokens, and what a wrong one gets."""

from __future__ import annotations

import socket

import pytest

from dotation import AuthenticationError, Dotation, ServerUnavailableError


def test_wrong_password_is_refused_with_the_servers_message(server):
    with pytest.raises(AuthenticationError) as e:
        Dotation(server.url, user="alice", password="not-her-password")
    assert e.value.code == "Unauthenticated"
    assert e.value.message == "wrong user name or password"


def test_unknown_user_gets_the_same_answer(server):
    with pytest.raises(AuthenticationError) as e:
        Dotation(server.url, user="mallory", password="anything")
    assert e.value.message == "wrong user name or password"


def test_a_static_token_acts_as_its_user(server, alice, alice_token, survey_dataset):
    with Dotation(server.url, token=alice_token) as d:
        assert survey_dataset in [ds.name for ds in d.datasets()]


def test_a_session_token_serves_another_connection(server, alice, survey_dataset):
    with Dotation(server.url, token=alice.token) as d:
        assert survey_dataset in [ds.name for ds in d.datasets()]


def test_an_unknown_token_is_refused(server):
    with Dotation(server.url, token="0" * 64) as d:
        with pytest.raises(AuthenticationError) as e:
            d.jobs()
    assert "unknown bearer token" in e.value.message


def test_no_credentials_is_refused(server):
    with Dotation(server.url) as d:
        with pytest.raises(AuthenticationError) as e:
            d.datasets()
    assert e.value.message.startswith("no credentials")


def test_credentials_are_given_one_way(server):
    with pytest.raises(ValueError, match="not both"):
        Dotation(server.url, user="alice", password="x", token="y")
    with pytest.raises(ValueError, match="needs a password"):
        Dotation(server.url, user="alice")


def test_no_server_is_unavailable():
    # A port that was free a moment ago: nothing listens there.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServerUnavailableError):
        Dotation(f"grpc://127.0.0.1:{port}", user="alice", password="x", timeout=10)
