"""Services and REST (notebooks 01-06), one concept per module.

    shop, intermediaries, soa_checks           01  a service as processes; a load balancer; the exercise's check
    urls, messages, rawhttp, demo_server       02  URLs; HTTP messages as bytes; a raw socket client; the demo server
    tasks/                                     03, 05, 06  the reference RESTful tasks service (a package)
    checking                                   03-05  what the Flask checkers share
    contract_checks, flask_checks, api_checks  03, 04, 05  the exercises' checks
    consuming, loadtest                        06  a slow service, the client's check; latency and throughput
    widgets                                    01, 02, 06  the HTTP widgets
"""
