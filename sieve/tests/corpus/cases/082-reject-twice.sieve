# expect: runtime error
require "reject";
reject "a";
reject "b";
