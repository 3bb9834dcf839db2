# expect: compile error
require "vacation";
vacation :seconds 100 "x";
