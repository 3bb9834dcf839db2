# message: list.eml
require "body";
if body :content "text/html" :contains "<p>" { discard; }
