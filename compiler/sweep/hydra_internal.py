"""The one place deployc touches Hydra internals.

Launching jobs through a Hydra launcher plugin without `@hydra.main` (which would chdir and own
the process) needs a HydraContext, and Hydra 1.3 offers no public way to make the Callbacks
object it holds: `hydra._internal.callbacks.Callbacks` is what Hydra's own run path uses. Kept
here, alone, so a Hydra upgrade that moves it breaks one small module with a clear import error.
"""

from __future__ import annotations


def hydra_context(config_loader, cfg):
    """A HydraContext for `Plugins.instantiate_launcher`, with the callbacks `cfg` configures."""
    from hydra._internal.callbacks import Callbacks
    from hydra.types import HydraContext

    return HydraContext(config_loader=config_loader, callbacks=Callbacks(cfg))
