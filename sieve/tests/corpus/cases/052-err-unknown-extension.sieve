# expect: compile error
require "x-unknown";
keep;
