from routing_engine import LoadedDeployment


def test_hospital_loads_without_warnings(hospital: LoadedDeployment) -> None:
    assert hospital.name == "hospital"
    assert hospital.warnings == []
