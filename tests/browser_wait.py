"""Waiting for a page that a click replaced, in the headless-Chromium tests."""

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException


def page_replaced(old_html):
    """A WebDriverWait condition: true once `old_html` (the old page's <html> element) is gone.

    Selenium's `staleness_of` only expects StaleElementReferenceException; recent chromedriver builds sometimes
    answer a question about a node of a replaced document with a generic inspector error ("Node with given id
    does not belong to the document"), which means the same thing here.
    """

    def gone(_driver) -> bool:
        try:
            old_html.is_enabled()
        except (StaleElementReferenceException, WebDriverException):
            return True
        return False

    return gone
