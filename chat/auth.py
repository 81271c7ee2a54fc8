"""
Signing in, with the same work for every username.

Django's ModelBackend runs the password hasher for a username that does
not exist, so timing does not tell which names are taken; for a user whose
password is unusable (made without one, or set_unusable_password()) 2.2
answers without hashing, and that difference tells those users apart
(CVE-2024-39329, fixed in 4.2.14, never in 2.2). Here every refusal costs
one run of the hasher.
"""
from django.contrib.auth import backends, get_user_model


class ModelBackend(backends.ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        user_model = get_user_model()
        if username is None:
            username = kwargs.get(user_model.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            user = None
        if user is None or not user.has_usable_password():
            user_model().set_password(password)  # the hasher's work, for nothing
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
