"""Relaxation options: the schedules, their defaults, and the validation of the
keyword arguments of grad and the other transformations.

This is the one home of these rules; every transformation (and the
relaxation itself) reads them from here.
"""
from collections import namedtuple
from collections.abc import Mapping
from numbers import Real

SCHEDULES = ("sweep", "jacobi", "euler", "strict")
UNITS = ("all", "marked")
ENERGIES = ("linear", "squared", "cross_entropy")  # linear: the cotangent's, without target
ON_NONCONVERGENCE = ("raise", "warn", "ignore")  # ignore: a fixed budget of max_iters
RECORDS = (None, "errors")  # what a relaxation keeps of every iteration (RelaxRecord)

Defaults = namedtuple("Defaults", "eta tol max_iters beta")
DEFAULTS = {
    "sweep": Defaults(eta=1.0, tol=0.0, max_iters=1, beta=1.0),
    "jacobi": Defaults(eta=1.0, tol=0.0, max_iters=1_000_000, beta=1.0),
    "euler": Defaults(eta=0.5, tol=1e-10, max_iters=100_000, beta=1.0),
    "strict": Defaults(eta=0.1, tol=1e-8, max_iters=100_000, beta=1e-3),
}
NAMES = ("schedule", "eta", "tol", "max_iters", "units", "beta", "precisions",
         "on_nonconvergence", "record")


def relaxation_options(schedule="sweep", eta=None, tol=None, max_iters=None, units="all",
                       beta=None, precisions=None, on_nonconvergence="raise", record=None):
    """Validated relaxation options, the schedule's defaults filled in: a dict
    with the keys of ``NAMES``.

    >>> relaxation_options("euler", tol=1e-12)["eta"]
    0.5
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; choose one of "
                         f"{', '.join(repr(s) for s in SCHEDULES)}.")
    defaults = DEFAULTS[schedule]
    if schedule == "sweep" and (tol is not None or max_iters is not None):
        given = " and ".join(name for name, value in (("tol", tol), ("max_iters", max_iters))
                             if value is not None)
        raise ValueError(f"The 'sweep' schedule is exact in one pass, so it takes no {given}. "
                         "Drop it, or choose an iterative schedule ('jacobi', 'euler' or "
                         "'strict').")
    eta = defaults.eta if eta is None else float(eta)
    if not 0.0 < eta <= 1.0:
        raise ValueError(f"eta must be in (0, 1] for the {schedule!r} schedule; got {eta}.")
    if schedule in ("jacobi", "sweep") and eta != 1.0:
        raise ValueError(f"The {schedule!r} schedule takes unit steps (eta = 1); use "
                         "schedule='euler' for a smaller step.")
    tol = defaults.tol if tol is None else float(tol)
    if not tol >= 0.0:
        raise ValueError(f"tol must be a non-negative number; got {tol}.")
    max_iters = defaults.max_iters if max_iters is None else max_iters
    if (isinstance(max_iters, bool) or not isinstance(max_iters, Real)
            or not float(max_iters).is_integer() or max_iters < 1):
        raise ValueError(f"max_iters must be a positive integer; got {max_iters!r}.")
    if beta is not None and schedule != "strict":
        raise ValueError("beta nudges the output in the 'strict' schedule only; the fixed "
                         "prediction schedules are exact with beta = 1.")
    beta = defaults.beta if beta is None else float(beta)
    if not beta > 0:
        raise ValueError(f"beta must be positive; got {beta}.")
    if units not in UNITS:
        raise ValueError(f"units must be 'all' or 'marked'; got {units!r}.")
    if precisions is not None and not isinstance(precisions, Mapping):
        raise TypeError("precisions must be a dict mapping pc_node names to precisions; "
                        f"got {type(precisions).__name__}.")
    if on_nonconvergence not in ON_NONCONVERGENCE:
        raise ValueError("on_nonconvergence must be 'raise', 'warn' or 'ignore' (a fixed "
                         "budget of max_iters steps, the gap in info.residual); "
                         f"got {on_nonconvergence!r}.")
    if record not in RECORDS:
        raise ValueError(f"record must be None or 'errors' (every unit's error at every "
                         f"iteration, in info.record); got {record!r}.")
    return dict(schedule=schedule, eta=eta, tol=tol, max_iters=int(max_iters), units=units,
                beta=beta, precisions=precisions, on_nonconvergence=on_nonconvergence,
                record=record)


def check_record(options, return_info):
    """A record is read from the RelaxInfo: it needs ``return_info``."""
    if options["record"] is not None and not return_info:
        raise ValueError(f"record={options['record']!r} keeps the relaxation in info.record; "
                         "pass return_info=True too.")


def options_from(given):
    """``relaxation_options(**given)``, rejecting names that are not options
    (vjp, jacobian and elementwise_grad take them as ``**options``)."""
    unknown = sorted(set(given) - set(NAMES))
    if unknown:
        raise TypeError(f"Unknown option {unknown[0]!r}; the relaxation options are "
                        f"{', '.join(NAMES)}.")
    return relaxation_options(**given)


def check_energy(energy):
    """``energy`` if it names an output energy for a clamped target."""
    if energy not in ENERGIES[1:]:
        raise ValueError(f"energy must be 'squared' or 'cross_entropy' (the output energy "
                         f"with target=); got {energy!r}.")
    return energy
