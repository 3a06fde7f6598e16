import os

from django.http import HttpResponse
from django.urls import path


def index(request):
    return HttpResponse(f"Hello from Django on {os.environ.get('DYNO', '?')}\n",
                        content_type="text/plain")


urlpatterns = [path("", index)]
