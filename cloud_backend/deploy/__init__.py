"""`edgeway cloud deploy`: package the handlers, plan, then create and execute a CloudFormation change set."""
