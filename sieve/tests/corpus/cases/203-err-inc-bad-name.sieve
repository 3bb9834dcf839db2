# expect: compile error
require "include";
include "../etc/passwd";
