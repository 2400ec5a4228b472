import datetime

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from tenancy import calendar, manuals, onboarding, services, throttle
from tenancy.access import public, roles_allowed
from tenancy.dates import tenant_today
from tenancy.filters import AuditEventFilter, filtered
from tenancy.forms import (
    CalendarDayForm,
    PasswordResetForm,
    StaffCreateForm,
    StaffEditForm,
    TenantForm,
)
from tenancy.models import (
    ALL_ROLES,
    AuditEvent,
    CalendarDay,
    Notification,
    NotificationSetting,
    Role,
    StaffMember,
)


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        # This browser now passes the per-account and per-address limits for this account
        # (tenancy/throttle.py), so an attack on the account does not lock its owner out.
        throttle.remember_device(self.request, response, form.get_user().get_username())
        return response


sign_in = public(SignInView.as_view())
sign_out = public(auth_views.LogoutView.as_view())


@roles_allowed(ALL_ROLES)
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "tenancy/home.html",
        {
            "role_label": Role(request.staff.role).label,
            "checklist": onboarding.checklist_for(request.staff),
        },
    )


@roles_allowed(Role.HQ_ADMIN)
def audit_list(request: HttpRequest) -> HttpResponse:
    events = AuditEventFilter(request.GET, queryset=AuditEvent.objects.all())
    rows, status = filtered(events)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(
        request, "tenancy/audit_list.html", {"filter": events, "page": page}, status=status
    )


@public
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness for the load balancer.

    The database is required: without it the answer is 503 "error". The cache only speeds
    pages up (tenancy/cache.py), so without it the web still serves: 200 "degraded", with the
    cache's error named so monitoring can tell the truth.
    """
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = f"error: {exc.__class__.__name__}"
    health = getattr(cache, "health", None)
    if health is not None:
        checks["cache"] = health()
    else:
        try:
            cache.set("healthz", "ok", 5)
            checks["cache"] = "ok" if cache.get("healthz") == "ok" else "error: no read-back"
        except Exception as exc:  # noqa: BLE001
            checks["cache"] = f"error: {exc.__class__.__name__}"
    if checks["database"] != "ok":
        status, code = "error", 503
    elif checks["cache"] != "ok":
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return JsonResponse({"status": status, **checks}, status=code)


def apply_validation_error(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: by field where it names one."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@roles_allowed(Role.HQ_ADMIN)
def staff_list(request: HttpRequest) -> HttpResponse:
    staff = StaffMember.objects.select_related("user").prefetch_related("stores")
    role = request.GET.get("role")
    if role in Role.values:
        staff = staff.filter(role=role)
    page = Paginator(staff.order_by("-is_active", "role", "display_name"), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request, "tenancy/staff_list.html", {"page": page, "roles": Role.choices, "role": role}
    )


@roles_allowed(Role.HQ_ADMIN)
def staff_create(request: HttpRequest) -> HttpResponse:
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_create(actor=request.staff, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Staff member created."))
            return redirect("staff_list")
    return render(request, "tenancy/staff_form.html", {"form": form, "creating": True})


@roles_allowed(Role.HQ_ADMIN)
def staff_edit(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(StaffMember.objects.select_related("user"), pk=pk)
    initial = {
        "display_name": member.display_name,
        "phone": member.phone,
        "role": member.role,
        "stores": list(member.stores.all()),
        "is_active": member.is_active,
    }
    form = StaffEditForm(request.POST or None, initial=initial)
    password_form = PasswordResetForm(prefix="pw")
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_update(actor=request.staff, staff=member, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Staff member saved."))
            return redirect("staff_list")
    return render(
        request,
        "tenancy/staff_form.html",
        {"form": form, "member": member, "password_form": password_form},
    )


@roles_allowed(Role.HQ_ADMIN)
def staff_password(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(StaffMember.objects.select_related("user"), pk=pk)
    if request.method != "POST":
        return HttpResponse(status=405)
    form = PasswordResetForm(request.POST, prefix="pw")
    if form.is_valid():
        try:
            services.staff_set_password(
                actor=request.staff, staff=member, password=form.cleaned_data["password"]
            )
        except ValidationError as error:
            form.add_error("password", error)
        else:
            messages.success(request, _("Password changed."))
            return redirect("staff_edit", pk=member.pk)
    edit_form = StaffEditForm(
        initial={
            "display_name": member.display_name,
            "phone": member.phone,
            "role": member.role,
            "stores": list(member.stores.all()),
            "is_active": member.is_active,
        }
    )
    return render(
        request,
        "tenancy/staff_form.html",
        {"form": edit_form, "member": member, "password_form": form},
        status=400,
    )


@roles_allowed(Role.HQ_ADMIN)
def tenant_settings(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    form = TenantForm(
        request.POST or None, initial={"name": tenant.name, "time_zone": tenant.time_zone}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.tenant_update(actor=request.staff, tenant=tenant, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("tenant_settings")
    return render(request, "tenancy/tenant_settings.html", {"form": form})


@roles_allowed(Role.HQ_ADMIN)
def working_calendar(request: HttpRequest) -> HttpResponse:
    """The tenant's public holidays and make-up working days, one year at a time."""
    today = tenant_today()
    try:
        year = int(request.GET.get("year") or request.POST.get("year") or today.year)
    except ValueError:
        year = today.year
    form = CalendarDayForm(request.POST if request.POST.get("action") == "set" else None)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "set" and form.is_valid():
            calendar.calendar_day_set(actor=request.staff, **form.cleaned_data)
            messages.success(request, _("Working calendar saved."))
            return redirect(f"{reverse('working_calendar')}?year={form.cleaned_data['day'].year}")
        if action == "remove":
            try:
                day = datetime.date.fromisoformat(request.POST.get("day", ""))
            except ValueError:
                raise Http404 from None
            calendar.calendar_day_remove(actor=request.staff, day=day)
            messages.success(request, _("Working calendar saved."))
            return redirect(f"{reverse('working_calendar')}?year={day.year}")
        if action == "import":
            changed = calendar.calendar_import_official(actor=request.staff, year=year)
            messages.success(
                request,
                _("The national schedule of %(year)s is in the calendar (%(count)s days changed).")
                % {"year": year, "count": changed},
            )
            return redirect(f"{reverse('working_calendar')}?year={year}")
    days = CalendarDay.objects.filter(day__year=year).order_by("day")
    return render(
        request,
        "tenancy/working_calendar.html",
        {
            "form": form,
            "year": year,
            "days": days,
            "official": year in calendar.OFFICIAL_SCHEDULES,
            "years": sorted({today.year, today.year + 1, year, *calendar.OFFICIAL_SCHEDULES}),
        },
    )


@roles_allowed(ALL_ROLES)
def inbox(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own notifications, unread first."""
    notifications = Notification.objects.filter(recipient=request.staff).order_by(
        F("read_at").asc(nulls_first=True), "-created_at", "-id"
    )
    page = Paginator(notifications, 30).get_page(request.GET.get("page"))
    setting = NotificationSetting.objects.filter(staff=request.staff).first()
    return render(
        request,
        "tenancy/inbox.html",
        {"page": page, "email_copy": bool(setting and setting.email_copy)},
    )


@roles_allowed(ALL_ROLES)
@require_POST
def inbox_read(request: HttpRequest) -> HttpResponse:
    """Mark one notification (field `id`) or all of them read; `open` also follows its link."""
    raw_id = request.POST.get("id", "")
    pk = int(raw_id) if raw_id.isdigit() else None
    services.notification_mark_read(staff=request.staff, pk=pk)
    if pk is not None and request.POST.get("open"):
        notification = get_object_or_404(Notification, pk=pk, recipient=request.staff)
        if notification.link and url_has_allowed_host_and_scheme(
            notification.link, allowed_hosts={request.get_host()}
        ):
            return redirect(notification.link)
    return redirect("inbox")


@roles_allowed(ALL_ROLES)
@require_POST
def inbox_settings(request: HttpRequest) -> HttpResponse:
    services.notification_setting_update(
        staff=request.staff, email_copy=request.POST.get("email_copy") == "on"
    )
    messages.success(request, _("Settings saved."))
    return redirect("inbox")


@roles_allowed(ALL_ROLES)
def help_manual(request: HttpRequest) -> HttpResponse:
    """A staff manual in the reader's language: their own role's, or `?manual=<name>`."""
    own = manuals.manual_for_role(request.staff.role)
    name = request.GET.get("manual") or own
    if name not in manuals.MANUALS.values():
        raise Http404("no such manual")
    manual = manuals.load(name, manuals.language_of(get_language()))
    onboarding.onboarding_step_done(staff=request.staff, step=onboarding.Step.READ_GUIDE)
    return render(
        request,
        "tenancy/help.html",
        {
            "manual": manual,
            # The manual is sanitised by nh3 when it is rendered (tenancy/manuals.py).
            "manual_html": mark_safe(manual.html),  # noqa: S308
            "toc": [(anchor, title) for level, anchor, title in manual.toc if level == 2],
            "others": [
                (other, manuals.load(other, manual.language).title)
                for other in manuals.READING_ORDER[request.staff.role]
                if other != name
            ],
            "own": own,
        },
    )


@roles_allowed(ALL_ROLES)
def onboarding_checklist(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own onboarding checklist."""
    return render(
        request,
        "tenancy/onboarding.html",
        {"checklist": onboarding.checklist_for(request.staff)},
    )


@roles_allowed(Role.STORE_MANAGER, Role.HQ_ADMIN)
def onboarding_team(request: HttpRequest) -> HttpResponse:
    """Onboarding progress of the staff a manager runs (HQ administrators: everyone)."""
    return render(
        request,
        "tenancy/onboarding_team.html",
        {"checklists": onboarding.checklists_for_team(request.staff), "steps": onboarding.STEPS},
    )
