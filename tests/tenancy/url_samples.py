from tests.url_samples import register

# Sign-out only answers POST; GET is refused after the role check.
register("logout", ok_status=405)
