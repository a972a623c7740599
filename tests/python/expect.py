"""What the Python tests share: checking that a call raises hilsim.Error naming what was wrong."""
import hilsim


def expect_error(f, needle):
    try:
        f()
    except hilsim.Error as e:
        assert needle in str(e), (needle, str(e))
        return
    raise SystemExit(f"expected hilsim.Error naming {needle!r}")
