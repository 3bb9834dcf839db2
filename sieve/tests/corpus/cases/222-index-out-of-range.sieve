# message: list.eml
require "index";
if header :index 5 :contains "x-mailing-list" "" { discard; } else { keep; }
