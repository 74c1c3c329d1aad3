"""Errors the Salesforce sandbox answers with, in the vendor's shapes (reference §7).

Tree::

    EmulatorError                  root of everything the sandbox raises on purpose
    └── ApiError                   a call failed: HTTP status + list of RecordError
        ├── MultipleChoices        HTTP 300: several records share an external id
        └── QueryError             SOQL problems (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE ...)

A ``RecordError`` renders as ``{"message","errorCode","fields"}`` in REST bodies and as
``{"statusCode","message","fields"}`` in sObject Collections results (reference §5.1).
Messages that are not verified against a real org are collected in ``MESSAGES`` so they can be
corrected in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Message texts. Keys are error codes or situations; values are str.format templates.
# [R] = seen in real responses (reference §7.2); [M] = from memory, adjust when a real org says
# otherwise.
MESSAGES: dict[str, str] = {
    "NOT_FOUND": "The requested resource does not exist",  # [R]
    "ENTITY_IS_DELETED": "entity is deleted",  # [R]
    "INVALID_SESSION_ID": "Session expired or invalid",  # [R]
    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",  # [R]
    "REQUIRED_FIELD_MISSING": "Required fields are missing: [{fields}]",  # [R]
    "INVALID_FIELD": "No such column '{field}' on sobject of type {type}",  # [R]
    "INVALID_FIELD_FOR_INSERT_UPDATE": (  # [R]
        "Unable to create/update fields: {fields}. Please check the security settings of this field and "
        "verify that it is read/write for your profile or permission set."
    ),
    "STRING_TOO_LONG": "{label}: data value too large: {value} (max length={length})",  # [R]
    # [R]
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "{label}: bad value for restricted picklist field: {value}",
    "DUPLICATE_VALUE": "duplicate value found: {field} duplicates value on record with id: {id}",  # [R]
    "DUPLICATES_DETECTED": (  # [R]
        "You're creating a duplicate record. We recommend you use an existing record instead."
    ),
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record or 1 records: {id}",  # [R]
    "INVALID_CROSS_REFERENCE_KEY": "invalid cross reference id",  # [M]
    "MALFORMED_ID": "{label}: id value of incorrect type: {value}",  # [M]
    "INVALID_EMAIL_ADDRESS": "{label}: invalid email address: {value}",  # [R] (tree example)
    "JSON_PARSER_ERROR": (  # [M]
        "Cannot deserialize instance of {type} from VALUE_STRING value {value} or request may be missing "
        "a required field"
    ),
    "STANDARD_PRICE_NOT_DEFINED": "Before creating a custom price, create a standard price.",  # [R]
    "PBE_MISSING": (  # [R]
        "field integrity exception: PricebookEntryId, unknown (versions 3.0 and higher must specify "
        "pricebook entry id; others must specify product id)"
    ),
    "PBE_OTHER_PRICEBOOK": (  # [M]
        "field integrity exception: PricebookEntryId (pricebook entry is in a different pricebook than the "
        "one assigned to the opportunity)"
    ),
    "PBE_INACTIVE": "field integrity exception: PricebookEntryId (pricebook entry is inactive)",  # [M]
    "PBE_CURRENCY": (  # [M]
        "field integrity exception: PricebookEntryId (pricebook entry currency code does not match "
        "opportunity currency code)"
    ),
    "PBE_DUPLICATE": "This price definition already exists in this price book",  # [M]
    "PBE_STANDARD_USES_STANDARD": (  # [M]
        "field integrity exception: UseStandardPrice (standard price entry cannot use standard price)"
    ),
    "PBE_UNIT_PRICE_LOCKED": (  # [M]
        "field integrity exception: UnitPrice (cannot change unit price when using standard price)"
    ),
    "OLI_PRICE_MISSING": (  # [M]
        "field integrity exception: TotalPrice (must specify either TotalPrice or UnitPrice)"
    ),
    "OLI_PRICE_BOTH": "field integrity exception: TotalPrice (cannot specify both TotalPrice and UnitPrice)",
    "OLI_BOTH_UPDATE": "Cannot change both 'UnitPrice' and 'TotalPrice' in update call",  # [R]
    "OPP_PRICEBOOK_CHANGE": (  # [M]
        "field integrity exception: Pricebook2Id (cannot change pricebook on opportunity with line items)"
    ),
    "OPP_CURRENCY_CHANGE": (  # [M]
        "field integrity exception: CurrencyIsoCode "
        "(cannot change currency on an opportunity with line items)"
    ),
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": (  # [M]
        "Record rolled back because not all records were valid and the request was using AllOrNone header"
    ),
    "PROCESSING_HALTED": (  # [M]
        "The transaction was rolled back since another operation in the same transaction failed."
    ),
    "SERVER_UNAVAILABLE": "Server temporarily unavailable. Please try again later.",  # [M]
    # [M]
    "FOREIGN_KEY_NOT_FOUND": "Foreign key external ID: {value} not found for field {field} in entity {type}",
    "EXTERNAL_ID_FIELD": "Provided external ID field does not exist or is not accessible: {field}",  # [R]
}


def message(key: str, **kwargs: Any) -> str:
    """Render the message template ``key`` with ``kwargs``."""
    return MESSAGES[key].format(**kwargs)


@dataclass
class RecordError:
    """One error item: a code, a message and the fields concerned (``None`` = key omitted)."""

    code: str
    message: str
    fields: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def rest(self) -> dict[str, Any]:
        """The REST body item ``{"message","errorCode","fields"?}``."""
        out: dict[str, Any] = dict(self.extra)
        out["errorCode"] = self.code
        out["message"] = self.message
        if self.fields is not None:
            out["fields"] = self.fields
        return out

    def collection(self) -> dict[str, Any]:
        """The per-record item of sObject Collections results ``{"statusCode","message","fields"}``."""
        return {**self.extra, "statusCode": self.code, "message": self.message, "fields": self.fields or []}

    def bulk(self) -> str:
        """The ``sf__Error`` column of Bulk API 2.0 failed results (``CODE:message:fields --``)."""
        return f"{self.code}:{self.message}:{','.join(self.fields or [])} --"


class EmulatorError(Exception):
    """Root of the errors the sandbox raises on purpose."""


class ApiError(EmulatorError):
    """A call failed with an HTTP status and one or more error items.

    Args:
        status: the HTTP status to answer with.
        errors: the error items (at least one).
    """

    def __init__(self, status: int, errors: list[RecordError]) -> None:
        super().__init__(errors[0].message if errors else str(status))
        self.status = status
        self.errors = errors

    @classmethod
    def single(cls, status: int, code: str, msg: str, fields: list[str] | None = None) -> ApiError:
        """An error with a single item."""
        return cls(status, [RecordError(code, msg, fields)])

    def body(self) -> list[Any]:
        """The REST error body (a JSON array)."""
        return [e.rest() for e in self.errors]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, errors={self.errors!r})"


class MultipleChoices(ApiError):
    """HTTP 300: an external id matched several records; the body lists their URLs."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(300, [RecordError("MULTIPLE_CHOICES", "More than one record found for external id")])
        self.urls = urls

    def body(self) -> list[Any]:
        """A JSON array of record URLs (reference §3.4)."""
        return list(self.urls)


class QueryError(ApiError):
    """A SOQL query was rejected (HTTP 400)."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(400, [RecordError(code, msg)])


def not_found() -> ApiError:
    """404 NOT_FOUND "The requested resource does not exist"."""
    return ApiError.single(404, "NOT_FOUND", MESSAGES["NOT_FOUND"])
