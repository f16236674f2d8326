"""Request middleware of the loyalty app."""

from loyalty.services.program import config_memo


class ConfigMemoMiddleware:
    """Each request reads the cached configuration (program, tiers, rules, promotions) at most once per
    value: see loyalty.services.program."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with config_memo():
            return self.get_response(request)
