"""``python -m bayes_xmass ...``: the ``bayes-xmass`` command line (:func:`bayes_xmass.cli.main.entry`)."""

from bayes_xmass.cli.main import entry

__all__: list[str] = []

if __name__ == "__main__":
    entry()
