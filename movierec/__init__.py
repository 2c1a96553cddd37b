"""The ``movierec`` command line: a thin layer over ``recsys`` (and ``flows``/``bentos``)."""
