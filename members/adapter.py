from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Open sign-up; members are linked to logins in members.signals."""

    def is_open_for_signup(self, request) -> bool:
        return True
