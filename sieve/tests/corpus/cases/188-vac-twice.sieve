# expect: runtime error
require "vacation";
vacation "a";
vacation "b";
