"""
Sign-up, sign-in and sign-out, with Django's own auth views and forms. A
signed-in user's chat messages carry their username as the handle: the
socket reads the user from the session cookie at the handshake
(chat/consumers.py).
"""
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import is_safe_url
from django.views.decorators.http import require_POST

from chat.models import HANDLE_MAX_LENGTH


class SignupForm(UserCreationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A username is the handle its messages carry: no longer than one.
        self.fields["username"].max_length = HANDLE_MAX_LENGTH
        self.fields["username"].widget.attrs["maxlength"] = HANDLE_MAX_LENGTH
        self.fields["username"].help_text = "Up to %d letters, digits and @/./+/-/_." % HANDLE_MAX_LENGTH


def signup(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not is_safe_url(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        next_url = "/"
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            user = form.save()
            login(request, user)
            return redirect(next_url)
    else:
        form = SignupForm()
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


urlpatterns = [
    path("signup/", signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    # POST only: Django 2.2's LogoutView also signs out on GET, which any
    # page could trigger with an <img>.
    path("logout/", require_POST(auth_views.LogoutView.as_view()), name="logout"),
]
