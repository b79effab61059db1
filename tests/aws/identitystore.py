"""End-to-end checks of the Identity Store and SSO Admin APIs with the real boto3.

Driven by tests/aws.rs: `python identitystore.py SCENARIO` with the server's address, the access
keys of two tenants and tenant A's SCIM endpoint and token in the environment variable AWS_E2E
(JSON). Each scenario raises on the first failed check; the Rust test reports the output.
"""

import datetime
import json
import os
import sys
import unittest.mock
import urllib.request

import boto3
import botocore.auth
import botocore.config
from botocore.exceptions import ClientError

E2E = json.loads(os.environ["AWS_E2E"])
ENDPOINT = E2E["endpoint"]
A, B = E2E["a"], E2E["b"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


def client(service, key, secret=None, region=None):
    session = boto3.session.Session(
        aws_access_key_id=key["access_key_id"],
        aws_secret_access_key=secret or key["secret_access_key"],
        region_name=region or key["region"],
    )
    return session.client(service, endpoint_url=ENDPOINT, config=CONFIG)


def expect(error_code, call, **fields):
    """Runs `call`, which must fail with `error_code` and the modelled `fields`."""
    try:
        call()
    except ClientError as e:
        assert e.response["Error"]["Code"] == error_code, e.response
        for name, value in fields.items():
            assert e.response.get(name) == value, (name, e.response)
        return e
    raise AssertionError(f"expected {error_code}")


def scim(method, path, body=None):
    """One SCIM request to tenant A, as Okta sends it."""
    request = urllib.request.Request(
        E2E["scim_endpoint"] + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + E2E["scim_token"], "Content-Type": "application/scim+json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def user_args(name, **extra):
    args = dict(
        IdentityStoreId=A["identity_store_id"],
        UserName=name,
        DisplayName=name.title(),
        Name={"GivenName": name.title(), "FamilyName": "Doe"},
        Emails=[{"Value": f"{name}@example.com", "Type": "work", "Primary": True}],
    )
    args.update(extra)
    return args


def identity_store():
    ids = client("identitystore", A)
    sid = A["identity_store_id"]
    ex = ids.exceptions

    # CreateUser, DescribeUser
    jane = ids.create_user(
        **user_args("jane"),
        Addresses=[{"StreetAddress": "1 Main St", "Locality": "Springfield", "Region": "IL",
                    "PostalCode": "62701", "Country": "US", "Type": "work", "Primary": True}],
        PhoneNumbers=[{"Value": "+1 555 0100", "Type": "work", "Primary": True}],
        Title="Engineer", Locale="en-US", Timezone="America/Chicago", PreferredLanguage="en",
        NickName="J", UserType="Employee", ProfileUrl="https://example.com/jane",
    )
    assert jane["IdentityStoreId"] == sid and jane["Revision"] == "1", jane
    described = ids.describe_user(IdentityStoreId=sid, UserId=jane["UserId"])
    assert described["UserName"] == "jane" and described["Name"]["GivenName"] == "Jane", described
    assert described["Emails"] == [{"Value": "jane@example.com", "Type": "work", "Primary": True}], described
    assert described["Addresses"][0]["Locality"] == "Springfield" and described["Title"] == "Engineer", described
    assert described["UserArn"].endswith(jane["UserId"]) and described["UserStatus"] == "ENABLED", described
    print("ok CreateUser DescribeUser")

    # ConflictException on a duplicate userName, ValidationException on bad input
    expect("ConflictException", lambda: ids.create_user(**user_args("JANE")), Reason="UNIQUENESS_CONSTRAINT_VIOLATION")
    try:
        ids.create_user(**user_args("bad name"))
        raise AssertionError("a userName with a space is refused as in AWS")
    except ex.ValidationException:
        pass
    try:
        ids.describe_user(IdentityStoreId=sid, UserId="not-a-user-id")
        raise AssertionError("a malformed id is refused")
    except ex.ValidationException:
        pass
    print("ok ConflictException ValidationException")

    # ResourceNotFoundException with ResourceType and ResourceId
    missing = "0b0c9d3e-1f2a-4b5c-8d6e-7f8091a2b3c4"
    try:
        ids.describe_user(IdentityStoreId=sid, UserId=missing)
        raise AssertionError("unknown user")
    except ex.ResourceNotFoundException as e:
        assert e.response["ResourceType"] == "USER" and e.response["ResourceId"] == missing, e.response
    print("ok ResourceNotFoundException")

    # UpdateUser: replace, remove, Revision
    ids.update_user(IdentityStoreId=sid, UserId=jane["UserId"], Operations=[
        {"AttributePath": "name.givenName", "AttributeValue": "Janet"},
        {"AttributePath": "title", "AttributeValue": None},
        {"AttributePath": "emails", "AttributeValue": [{"value": "janet@example.com", "type": "work", "primary": True}]},
    ])
    updated = ids.describe_user(IdentityStoreId=sid, UserId=jane["UserId"])
    assert updated["Name"]["GivenName"] == "Janet" and "Title" not in updated, updated
    assert updated["Emails"][0]["Value"] == "janet@example.com" and updated["Revision"] == "2", updated
    expect("ConflictException", lambda: ids.update_user(
        IdentityStoreId=sid, UserId=jane["UserId"], Revision="1",
        Operations=[{"AttributePath": "nickName", "AttributeValue": "x"}]), Reason="CONCURRENT_MODIFICATION")
    # A refused update changes nothing: one bad operation among good ones.
    try:
        ids.update_user(IdentityStoreId=sid, UserId=jane["UserId"], Operations=[
            {"AttributePath": "nickName", "AttributeValue": "changed"},
            {"AttributePath": "userName", "AttributeValue": None}])
        raise AssertionError("removing userName is refused")
    except ex.ValidationException:
        pass
    unchanged = ids.describe_user(IdentityStoreId=sid, UserId=jane["UserId"])
    assert unchanged["Revision"] == "2" and unchanged.get("NickName") == "J", unchanged
    print("ok UpdateUser")

    # GetUserId by unique attribute and by external id
    got = ids.get_user_id(IdentityStoreId=sid, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": "JANE"}})
    assert got["UserId"] == jane["UserId"], got
    got = ids.get_user_id(IdentityStoreId=sid, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "emails.value", "AttributeValue": "janet@example.com"}})
    assert got["UserId"] == jane["UserId"], got
    expect("ResourceNotFoundException", lambda: ids.get_user_id(IdentityStoreId=sid, AlternateIdentifier={
        "ExternalId": {"Issuer": "okta", "Id": "nobody"}}))
    print("ok GetUserId")

    # ListUsers with a paginator over 5 users, 2 a page, and with a filter
    for i in range(4):
        ids.create_user(**user_args(f"user{i}"))
    pages = list(ids.get_paginator("list_users").paginate(IdentityStoreId=sid, PaginationConfig={"PageSize": 2}))
    names = [u["UserName"] for p in pages for u in p["Users"]]
    assert len(pages) == 3 and names == ["jane", "user0", "user1", "user2", "user3"], (len(pages), names)
    one = ids.list_users(IdentityStoreId=sid, Filters=[{"AttributePath": "UserName", "AttributeValue": "user2"}])
    assert [u["UserName"] for u in one["Users"]] == ["user2"], one
    expect("ValidationException", lambda: ids.list_users(IdentityStoreId=sid, NextToken="forged"))
    print("ok ListUsers paginator Filters")

    # Groups: Create, Describe, Update, GetGroupId, ListGroups
    eng = ids.create_group(IdentityStoreId=sid, DisplayName="Engineering", Description="Builders")
    ops = ids.create_group(IdentityStoreId=sid, DisplayName="Operations")
    expect("ConflictException", lambda: ids.create_group(IdentityStoreId=sid, DisplayName="engineering"))
    group = ids.describe_group(IdentityStoreId=sid, GroupId=eng["GroupId"])
    assert group["DisplayName"] == "Engineering" and group["Description"] == "Builders", group
    ids.update_group(IdentityStoreId=sid, GroupId=eng["GroupId"], Operations=[
        {"AttributePath": "displayName", "AttributeValue": "Eng"},
        {"AttributePath": "description", "AttributeValue": "Builders of things"}])
    group = ids.describe_group(IdentityStoreId=sid, GroupId=eng["GroupId"])
    assert group["DisplayName"] == "Eng" and group["Description"] == "Builders of things", group
    got = ids.get_group_id(IdentityStoreId=sid, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": "eng"}})
    assert got["GroupId"] == eng["GroupId"], got
    listed = ids.list_groups(IdentityStoreId=sid, Filters=[{"AttributePath": "DisplayName", "AttributeValue": "Operations"}])
    assert [g["GroupId"] for g in listed["Groups"]] == [ops["GroupId"]], listed
    pages = list(ids.get_paginator("list_groups").paginate(IdentityStoreId=sid, PaginationConfig={"PageSize": 1}))
    assert [g["DisplayName"] for p in pages for g in p["Groups"]] == ["Eng", "Operations"], pages
    try:
        ids.describe_group(IdentityStoreId=sid, GroupId=missing)
        raise AssertionError("unknown group")
    except ex.ResourceNotFoundException as e:
        assert e.response["ResourceType"] == "GROUP", e.response
    print("ok CreateGroup DescribeGroup UpdateGroup GetGroupId ListGroups")

    # Memberships
    users = [u["UserId"] for p in ids.get_paginator("list_users").paginate(IdentityStoreId=sid) for u in p["Users"]]
    memberships = [ids.create_group_membership(IdentityStoreId=sid, GroupId=eng["GroupId"], MemberId={"UserId": u})
                   for u in users[:3]]
    expect("ConflictException", lambda: ids.create_group_membership(
        IdentityStoreId=sid, GroupId=eng["GroupId"], MemberId={"UserId": users[0]}))
    try:
        ids.create_group_membership(IdentityStoreId=sid, GroupId=eng["GroupId"], MemberId={"UserId": missing})
        raise AssertionError("unknown member")
    except ex.ResourceNotFoundException as e:
        assert e.response["ResourceType"] == "USER", e.response
    ids.create_group_membership(IdentityStoreId=sid, GroupId=ops["GroupId"], MemberId={"UserId": users[0]})
    first = memberships[0]["MembershipId"]
    described = ids.describe_group_membership(IdentityStoreId=sid, MembershipId=first)
    assert described["GroupId"] == eng["GroupId"] and described["MemberId"] == {"UserId": users[0]}, described
    got = ids.get_group_membership_id(IdentityStoreId=sid, GroupId=eng["GroupId"], MemberId={"UserId": users[0]})
    assert got["MembershipId"] == first, got
    pages = list(ids.get_paginator("list_group_memberships").paginate(
        IdentityStoreId=sid, GroupId=eng["GroupId"], PaginationConfig={"PageSize": 2}))
    assert len(pages) == 2 and [m["MemberId"]["UserId"] for p in pages for m in p["GroupMemberships"]] == users[:3], pages
    pages = list(ids.get_paginator("list_group_memberships_for_member").paginate(
        IdentityStoreId=sid, MemberId={"UserId": users[0]}, PaginationConfig={"PageSize": 1}))
    assert [m["GroupId"] for p in pages for m in p["GroupMemberships"]] == [eng["GroupId"], ops["GroupId"]], pages
    answer = ids.is_member_in_groups(IdentityStoreId=sid, MemberId={"UserId": users[3]},
                                     GroupIds=[eng["GroupId"], ops["GroupId"]])
    assert [r["MembershipExists"] for r in answer["Results"]] == [False, False], answer
    answer = ids.is_member_in_groups(IdentityStoreId=sid, MemberId={"UserId": users[0]},
                                     GroupIds=[eng["GroupId"], ops["GroupId"]])
    assert [r["MembershipExists"] for r in answer["Results"]] == [True, True], answer
    ids.delete_group_membership(IdentityStoreId=sid, MembershipId=first)
    try:
        ids.describe_group_membership(IdentityStoreId=sid, MembershipId=first)
        raise AssertionError("deleted membership")
    except ex.ResourceNotFoundException as e:
        assert e.response["ResourceType"] == "GROUP_MEMBERSHIP", e.response
    expect("ResourceNotFoundException", lambda: ids.get_group_membership_id(
        IdentityStoreId=sid, GroupId=eng["GroupId"], MemberId={"UserId": users[0]}))
    print("ok CreateGroupMembership DescribeGroupMembership GetGroupMembershipId ListGroupMemberships "
          "ListGroupMembershipsForMember IsMemberInGroups DeleteGroupMembership")

    # Deletes, and their memberships with them
    ids.delete_user(IdentityStoreId=sid, UserId=users[1])
    expect("ResourceNotFoundException", lambda: ids.delete_user(IdentityStoreId=sid, UserId=users[1]))
    remaining = ids.list_group_memberships(IdentityStoreId=sid, GroupId=eng["GroupId"])["GroupMemberships"]
    assert [m["MemberId"]["UserId"] for m in remaining] == [users[2]], remaining
    ids.delete_group(IdentityStoreId=sid, GroupId=ops["GroupId"])
    try:
        ids.delete_group(IdentityStoreId=sid, GroupId=ops["GroupId"])
        raise AssertionError("deleted group")
    except ex.ResourceNotFoundException:
        pass
    print("ok DeleteUser DeleteGroup")

    # Another tenant's store is refused with AccessDeniedException
    try:
        ids.list_users(IdentityStoreId=B["identity_store_id"])
        raise AssertionError("tenant B's store")
    except ex.AccessDeniedException:
        pass
    print("ok AccessDeniedException")


def sso_admin():
    sso = client("sso-admin", A)
    instances = sso.list_instances()["Instances"]
    assert [i["InstanceArn"] for i in instances] == [A["instance_arn"]], instances
    assert instances[0]["IdentityStoreId"] == A["identity_store_id"] and instances[0]["Status"] == "ACTIVE"
    described = sso.describe_instance(InstanceArn=A["instance_arn"])
    assert described["IdentityStoreId"] == A["identity_store_id"], described
    expect("AccessDeniedException", lambda: sso.describe_instance(InstanceArn=B["instance_arn"]))
    arn = A["instance_arn"]
    try:
        sso.describe_instance_access_control_attribute_configuration(InstanceArn=arn)
        raise AssertionError("nothing configured yet")
    except sso.exceptions.ResourceNotFoundException:
        pass
    config = {"AccessControlAttributes": [
        {"Key": "Department", "Value": {"Source": ["${path:enterprise.department}"]}},
        {"Key": "Given", "Value": {"Source": ["${path:name.givenName}"]}}]}
    sso.create_instance_access_control_attribute_configuration(
        InstanceArn=arn, InstanceAccessControlAttributeConfiguration=config)
    try:
        sso.create_instance_access_control_attribute_configuration(
            InstanceArn=arn, InstanceAccessControlAttributeConfiguration=config)
        raise AssertionError("created twice")
    except sso.exceptions.ConflictException:
        pass
    got = sso.describe_instance_access_control_attribute_configuration(InstanceArn=arn)
    assert got["Status"] == "ENABLED" and got["InstanceAccessControlAttributeConfiguration"] == config, got
    try:
        sso.update_instance_access_control_attribute_configuration(InstanceArn=arn,
            InstanceAccessControlAttributeConfiguration={"AccessControlAttributes": [
                {"Key": "Bad", "Value": {"Source": ["${path:password}"]}}]})
        raise AssertionError("a never-returned source is refused")
    except sso.exceptions.ValidationException:
        pass
    smaller = {"AccessControlAttributes": config["AccessControlAttributes"][1:]}
    sso.update_instance_access_control_attribute_configuration(
        InstanceArn=arn, InstanceAccessControlAttributeConfiguration=smaller)
    got = sso.describe_instance_access_control_attribute_configuration(InstanceArn=arn)
    assert got["InstanceAccessControlAttributeConfiguration"] == smaller, got
    print("ok ListInstances DescribeInstance Create/Describe/UpdateInstanceAccessControlAttributeConfiguration")
    # The admin API (what the console shows) sees the same attributes.
    request = urllib.request.Request(f"{ENDPOINT}/admin/v1/tenants/{A['tenant_id']}/access-control",
                                     headers={"Authorization": "Bearer " + E2E["admin_token"]})
    with urllib.request.urlopen(request) as response:
        shown = json.loads(response.read())["attributes"]
    assert shown == [{"key": "Given", "value": "${path:name.givenName}"}], shown
    sso.delete_instance_access_control_attribute_configuration(InstanceArn=arn)
    expect("ResourceNotFoundException",
           lambda: sso.describe_instance_access_control_attribute_configuration(InstanceArn=arn))
    print("ok DeleteInstanceAccessControlAttributeConfiguration, shared with the console")


def signatures():
    sid = A["identity_store_id"]
    # Unsigned: botocore's UNSIGNED config sends no Authorization header.
    unsigned = boto3.session.Session(region_name="us-east-1").client(
        "identitystore", endpoint_url=ENDPOINT, config=CONFIG.merge(botocore.config.Config(signature_version=botocore.UNSIGNED)))
    expect("MissingAuthenticationTokenException", lambda: unsigned.list_users(IdentityStoreId=sid))
    # A wrong secret, an unknown key, another service's scope, a region the deployment refuses.
    expect("InvalidSignatureException", lambda: client("identitystore", A, secret="x" * 40).list_users(IdentityStoreId=sid))
    unknown = dict(A, access_key_id="AKIAAAAAAAAAAAAAAAAA")
    expect("UnrecognizedClientException", lambda: client("identitystore", unknown).list_users(IdentityStoreId=sid))
    expect("IncompleteSignatureException", lambda: client("identitystore", A, region="eu-west-1").list_users(IdentityStoreId=sid))
    # A clock 20 minutes slow, then 20 minutes fast: refused; 10 minutes slow: accepted.
    ids = client("identitystore", A)
    for minutes, refused in [(-20, True), (20, True), (-10, False)]:
        skewed = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=minutes)
        with unittest.mock.patch.object(botocore.auth, "get_current_datetime", return_value=skewed):
            if refused:
                e = expect("InvalidSignatureException", lambda: ids.list_users(IdentityStoreId=sid))
                assert "Signature expired" in e.response["Error"]["Message"], e.response
            else:
                ids.list_users(IdentityStoreId=sid)
    # Tenant B's key on tenant A's store, and on its own.
    expect("AccessDeniedException", lambda: client("identitystore", B).list_users(IdentityStoreId=sid))
    assert client("identitystore", B).list_users(IdentityStoreId=B["identity_store_id"])["Users"] == []
    print("ok unsigned, wrong secret, unknown key, region, skew, other tenant")


def one_directory():
    ids = client("identitystore", A)
    sid = A["identity_store_id"]
    # Okta-style SCIM provisioning: a user, a group, a membership pushed by PATCH.
    status, user = scim("POST", "/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "okta.user@example.com",
        "externalId": "00u1okta", "name": {"givenName": "Okta", "familyName": "User"}, "displayName": "Okta User",
        "emails": [{"value": "okta.user@example.com", "type": "work", "primary": True}], "active": True})
    assert status == 201, (status, user)
    status, group = scim("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                             "displayName": "Okta Group", "externalId": "00gokta"})
    assert status == 201, (status, group)
    status, _ = scim("PATCH", f"/Groups/{group['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}]})
    assert status == 204, status
    # The Identity Store view: same ids, same attributes, same membership.
    described = ids.describe_user(IdentityStoreId=sid, UserId=user["id"])
    assert described["UserName"] == "okta.user@example.com" and described["Name"]["FamilyName"] == "User", described
    assert described["ExternalIds"] == [{"Issuer": "SCIM", "Id": "00u1okta"}], described
    got = ids.get_user_id(IdentityStoreId=sid, AlternateIdentifier={"ExternalId": {"Issuer": "SCIM", "Id": "00u1okta"}})
    assert got["UserId"] == user["id"], got
    expect("ResourceNotFoundException", lambda: ids.get_user_id(
        IdentityStoreId=sid, AlternateIdentifier={"ExternalId": {"Issuer": "okta", "Id": "00u1okta"}}))
    got = ids.get_group_id(IdentityStoreId=sid, AlternateIdentifier={"ExternalId": {"Issuer": "SCIM", "Id": "00gokta"}})
    assert got["GroupId"] == group["id"], got
    assert ids.describe_group(IdentityStoreId=sid, GroupId=group["id"])["DisplayName"] == "Okta Group"
    memberships = ids.list_group_memberships_for_member(IdentityStoreId=sid, MemberId={"UserId": user["id"]})
    assert [m["GroupId"] for m in memberships["GroupMemberships"]] == [group["id"]], memberships
    # A change through Identity Store, read back over SCIM.
    ids.update_user(IdentityStoreId=sid, UserId=user["id"], Operations=[
        {"AttributePath": "displayName", "AttributeValue": "Okta Renamed"}])
    status, again = scim("GET", f"/Users/{user['id']}")
    assert status == 200 and again["displayName"] == "Okta Renamed" and again["externalId"] == "00u1okta", again
    other = ids.create_user(**user_args("made.in.aws"))
    ids.create_group_membership(IdentityStoreId=sid, GroupId=group["id"], MemberId={"UserId": other["UserId"]})
    status, listed = scim("GET", f"/Groups?filter=id%20eq%20%22{group['id']}%22%20and%20members%20eq%20%22{other['UserId']}%22")
    assert status == 200 and listed["totalResults"] == 1, listed
    status, found = scim("GET", "/Users?filter=userName%20eq%20%22made.in.aws%22")
    assert [u["id"] for u in found["Resources"]] == [other["UserId"]], found
    # Uniqueness holds across both APIs.
    expect("ConflictException", lambda: ids.create_user(**user_args("OKTA.USER@example.com")))
    status, _ = scim("POST", "/Users", {"userName": "made.in.aws", "name": {"givenName": "a", "familyName": "b"},
                                        "displayName": "x", "emails": [{"value": "x@example.com", "primary": True}]})
    assert status == 409, status
    # A deletion through Identity Store is gone for SCIM.
    ids.delete_group(IdentityStoreId=sid, GroupId=group["id"])
    status, _ = scim("GET", f"/Groups/{group['id']}")
    assert status == 404, status
    print("ok SCIM then Identity Store then SCIM")


def limits():
    ids = client("identitystore", A)
    sid = A["identity_store_id"]
    ids.create_user(**user_args("first"))
    try:
        ids.create_user(**user_args("second"))
        raise AssertionError("the user quota of 1 applies")
    except ids.exceptions.ServiceQuotaExceededException:
        pass
    status, _ = scim("POST", "/Users", {"userName": "third", "name": {"givenName": "a", "familyName": "b"},
                                        "displayName": "x", "emails": [{"value": "t@example.com", "primary": True}]})
    assert status == 400, status
    print("ok quota shared")


def throttled():
    ids = client("identitystore", A)
    sid = A["identity_store_id"]
    refused = 0
    for _ in range(5):
        try:
            ids.list_users(IdentityStoreId=sid)
        except ids.exceptions.ThrottlingException as e:
            assert e.response["RetryAfterSeconds"] >= 1, e.response
            refused += 1
    assert refused >= 3, refused
    status, _ = scim("GET", "/Users")
    assert status == 429, status
    print("ok throttled")


def accepted():
    assert client("identitystore", A).list_users(IdentityStoreId=A["identity_store_id"])["Users"] == []
    print("ok key accepted")


def revoked():
    expect("UnrecognizedClientException",
           lambda: client("identitystore", A).list_users(IdentityStoreId=A["identity_store_id"]))
    print("ok deleted key refused")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
