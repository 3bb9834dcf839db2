# message: list.eml
require "body";
if body :text :contains "<p>" { discard; } else { keep; }
