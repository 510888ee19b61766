"""The live console page (``/console/``): a small single page that logs in through the API, shows
alerts as they arrive over ``/ws/alerts/`` with their snapshots, and processes them."""
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def console(request):
    # The page holds no data: it signs in with the JWT API and reads everything through it, so the
    # same permissions and group visibility apply as for any API client.
    return render(request, "alerts/console.html")
