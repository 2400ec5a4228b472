"""HQ administrators manage their tenant's staff: roles, stores, passwords; all audited."""

import pytest
from django.test import Client
from django.urls import reverse

from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role, StaffMember

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def can_sign_in(username: str, password: str) -> bool:
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302


def test_hq_admin_creates_a_clerk_for_a_store_who_can_then_sign_in(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("staff_create"),
        {
            "username": "new.clerk",
            "display_name": "新店员",
            "role": Role.CLERK,
            "stores": [world.store_a2.pk],
            "password": "Spring-Counter-88",
        },
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        staff = StaffMember.objects.get(user__username="new.clerk")
        assert staff.store_ids == {world.store_a2.pk}
        assert AuditEvent.objects.filter(action="staff.create", object_id=str(staff.pk)).exists()
    assert can_sign_in("new.clerk", "Spring-Counter-88")


def test_store_roles_need_a_store_and_weak_passwords_are_refused(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    data = {"username": "x1", "display_name": "某人", "role": Role.CLERK, "password": "123"}
    response = client.post(reverse("staff_create"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "至少" in html  # a store is required for store roles
    data["stores"] = [world.store_a1.pk]
    html = client.post(reverse("staff_create"), data).content.decode()
    assert "密码" in html
    with tenant_context(world.tenant_a):
        assert not StaffMember.objects.filter(user__username="x1").exists()


def create_staff_named(client, username: str):
    return client.post(
        reverse("staff_create"),
        {
            "username": username,
            "display_name": "重复",
            "role": Role.HQ_STAFF,
            "password": "Spring-Counter-88",
        },
    )


def username_errors(response) -> list[str]:
    return response.context["form"].errors["username"]


def test_a_user_name_of_another_tenant_cannot_be_told_from_one_of_our_own(world, client_for):
    admin_a = client_for(world.staff_a[Role.HQ_ADMIN])
    theirs = create_staff_named(admin_a, world.staff_b[Role.CLERK].user.username)
    ours = create_staff_named(admin_a, world.staff_a[Role.CLERK].user.username)
    assert theirs.status_code == ours.status_code == 200
    assert username_errors(theirs) == [
        f"该用户名不可用，请换一个，例如 alpha.{world.staff_b[Role.CLERK].user.username}。"
    ]
    assert username_errors(ours) == [
        f"该用户名不可用，请换一个，例如 alpha.{world.staff_a[Role.CLERK].user.username}。"
    ]
    html = theirs.content.decode()
    assert "已被使用" not in html
    assert world.tenant_b.name not in html
    with tenant_context(world.tenant_a):
        assert not StaffMember.objects.filter(display_name="重复").exists()


def test_the_same_message_answers_the_other_tenant_probing_back(world, client_for):
    admin_b = client_for(world.staff_b[Role.HQ_ADMIN])
    probed = world.staff_a[Role.HQ_ADMIN].user.username.upper()
    response = create_staff_named(admin_b, probed)
    assert username_errors(response) == [f"该用户名不可用，请换一个，例如 beta.{probed}。"]


def test_a_name_already_in_our_namespace_gets_no_suggestion(world, client_for):
    admin_a = client_for(world.staff_a[Role.HQ_ADMIN])
    assert create_staff_named(admin_a, "alpha.zhang").status_code == 302
    response = create_staff_named(admin_a, "alpha.zhang")
    assert username_errors(response) == ["该用户名不可用，请换一个。"]


def test_staff_of_the_same_tenant_without_the_role_cannot_probe_at_all(world, client_for):
    hq_staff_a = client_for(world.staff_a[Role.HQ_STAFF])
    response = create_staff_named(hq_staff_a, world.staff_b[Role.CLERK].user.username)
    assert response.status_code == 403


def test_editing_moves_a_manager_to_another_store_and_is_audited(world, client_for):
    manager = world.staff_a[Role.STORE_MANAGER]
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("staff_edit", args=[manager.pk]),
        {
            "display_name": manager.display_name,
            "role": Role.STORE_MANAGER,
            "stores": [world.store_a2.pk],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        manager = StaffMember.objects.get(pk=manager.pk)
        assert manager.store_ids == {world.store_a2.pk}
        event = AuditEvent.objects.get(action="staff.update")
        assert event.before["stores"] == ["BJ-ZY-001"]
        assert event.after["stores"] == ["BJ-ZY-002"]


def test_a_deactivated_staff_member_is_locked_out_of_every_page(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.post(
        reverse("staff_edit", args=[clerk.pk]),
        {"display_name": clerk.display_name, "role": Role.CLERK, "stores": [world.store_a1.pk]},
    )
    assert client_for(clerk).get(reverse("home")).status_code == 403


def test_admins_cannot_demote_themselves(world, client_for):
    admin = world.staff_a[Role.HQ_ADMIN]
    response = client_for(admin).post(
        reverse("staff_edit", args=[admin.pk]),
        {"display_name": "x", "role": Role.HQ_STAFF, "is_active": "on"},
    )
    assert response.status_code == 200
    assert "不能修改自己的角色" in response.content.decode()


def test_password_reset_by_admin(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("staff_password", args=[clerk.pk]), {"pw-password": "Autumn-Register-77"}
    )
    assert response.status_code == 302
    assert can_sign_in(clerk.user.username, "Autumn-Register-77")


def test_tenant_settings_change_time_zone(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("tenant_settings"), {"name": "甲连锁新名", "time_zone": "Asia/Urumqi"}
    )
    assert response.status_code == 302
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.time_zone == "Asia/Urumqi"
    response = client.post(reverse("tenant_settings"), {"name": "x", "time_zone": "Mars/Base"})
    assert response.status_code == 200
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.name == "甲连锁新名"
