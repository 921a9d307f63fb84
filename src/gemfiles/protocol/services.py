"""What a request handler can reach: the settings and the domain services, built once by create_app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from gemfiles.domain.batch_service import BatchService
from gemfiles.domain.cache_service import CacheService
from gemfiles.domain.clock import Clock
from gemfiles.domain.conversations import InteractionService
from gemfiles.domain.emulator import Emulator
from gemfiles.domain.files import FileService
from gemfiles.domain.generation import GenerationService
from gemfiles.domain.inventory import Inventory
from gemfiles.domain.ports import BlobStore, MetadataStore, Prober
from gemfiles.domain.projects import ProjectAdmin
from gemfiles.domain.routing import Route
from gemfiles.domain.scrub import Scrubber
from gemfiles.domain.uploads import UploadService
from gemfiles.domain.workers import Maintenance
from gemfiles.errors import NotFound
from gemfiles.protocol.history import RequestHistory
from gemfiles.protocol.http import Authenticator
from gemfiles.protocol.observe import ServerTelemetry
from gemfiles.settings import Settings


@dataclass
class Services:
    settings: Settings
    clock: Clock
    meta: MetadataStore
    blobs: BlobStore
    auth: Authenticator
    files: FileService
    uploads: UploadService
    maintenance: Maintenance
    generation: GenerationService
    interactions: InteractionService
    prober: Prober
    admin: ProjectAdmin
    telemetry: ServerTelemetry | None = None
    batches: BatchService | None = None  # None without a SQL metadata store
    caches: CacheService | None = None
    emulator: Emulator | None = None
    inventory: Inventory | None = None  # the console's views (protocol/console_api.py)
    history: RequestHistory | None = None  # recent requests and traffic samples, kept by the middleware
    scrubber: Scrubber | None = None  # the scrub of orphan bytes (domain/scrub.py)
    ready: bool = False


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def api_version(request: Request) -> str:
    """The request's API version segment (validated by the route), ``v1beta`` for a version-less path."""
    version: str = request.path_params.get("version", "")
    return version or "v1beta"


def model_route(services: Services, model: str, request: Request, method: str = "generateContent") -> Route:
    """The route of a model id, or Google's 404 for an unknown model in the request's API version."""
    route = services.generation.route(model)
    if route is None:
        name = model if model.startswith("tunedModels/") else f"models/{model}"
        raise NotFound(
            f"{name} is not found for API version {api_version(request)}, or is not supported for "
            f"{method}. Call ListModels to see the list of available models and their supported methods."
        )
    return route
