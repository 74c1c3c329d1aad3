"""SOQL for the Salesforce sandbox: ``parser`` (lark grammar to syntax tree), ``engine`` (binding
and execution), ``dates`` (date literals), ``service`` (``/query`` pages and query locators)."""
