# message: spam.eml
require "include";
include "spam-rules";
keep;
