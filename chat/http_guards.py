"""
What the workers refuse or add on every HTTP request, before any view
runs: Django 2.2 gets no security fixes, so the parts of it an anonymous
client could reach with a crafted request are kept out of reach here
(docs/security.md says which advisory each guard closes).

    refuse_multipart   415 for a multipart body. The service takes no
                       uploads, and Django 2.2's multipart parser (no limit
                       on parts, a quadratic base64 path) would otherwise
                       run for anyone: the CSRF middleware reads request.POST
                       before it refuses a forged form.
    guard_admin        /admin/ only from DJANGO_ADMIN_ALLOWED_NETWORKS (404
                       elsewhere, as if it did not exist), and never with
                       `_connector` or `_negated` among its query parameters:
                       2.2's changelist passes them on to QuerySet.filter(),
                       which turns them into SQL (CVE-2025-64459).
    security_headers   Content-Security-Policy (the pages load scripts and
                       styles from this site only, and have no inline
                       script) and Referrer-Policy, which 2.2's
                       SecurityMiddleware does not set.
"""
import ipaddress
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    # 'self' covers ws: and wss: on this host (CSP Level 3).
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
REFERRER_POLICY = "same-origin"

# Keyword arguments of Q() that reach SQL when passed through filter(**params).
SQL_SHAPING_PARAMETERS = ("_connector", "_negated")


def refuse_multipart(get_response):
    def middleware(request):
        if request.META.get("CONTENT_TYPE", "").lower().lstrip().startswith("multipart/"):
            log.info("Refused a multipart body to %s", request.path)
            return HttpResponse("This service takes no multipart bodies.\n", status=415,
                                content_type="text/plain; charset=utf-8")
        return get_response(request)
    return middleware


def admin_networks():
    """DJANGO_ADMIN_ALLOWED_NETWORKS as ip_network objects; [] means anywhere."""
    return [ipaddress.ip_network(network, strict=False) for network in settings.ADMIN_ALLOWED_NETWORKS]


def guard_admin(get_response):
    networks = admin_networks()
    prefix = "/admin/"

    def middleware(request):
        # path_info is what Django routes by: with a root path (Daphne takes
        # one from a Daphne-Root-Path header) `path` is /<root>/admin/...
        if not request.path_info.startswith(prefix):
            return get_response(request)
        if networks and not _from(request.META.get("REMOTE_ADDR"), networks):
            log.info("Refused /admin/ to %s: not in DJANGO_ADMIN_ALLOWED_NETWORKS", request.META.get("REMOTE_ADDR"))
            return HttpResponseNotFound("Not found.\n", content_type="text/plain; charset=utf-8")
        if any(name.split("__")[0] in SQL_SHAPING_PARAMETERS for name in request.GET):
            log.warning("Refused an admin request with a query-shaping parameter: %s", request.get_full_path())
            return HttpResponseBadRequest("Unknown parameter.\n", content_type="text/plain; charset=utf-8")
        return get_response(request)
    return middleware


def _from(address, networks):
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


def security_headers(get_response):
    def middleware(request):
        response = get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Referrer-Policy", REFERRER_POLICY)
        return response
    return middleware
